#include "registry/client.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/duration.hpp"
#include "common/json_text.hpp"
#include "store/digest.hpp"
#include "store/oci.hpp"
#include "store/progress.hpp"

namespace crt::registry {

using nlohmann::json;

namespace {

bool retryable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string accept_manifests() {
  return "Accept: " + std::string(store::oci::kImageIndex) + ", " + std::string(store::oci::kImageManifest) + ", " +
         std::string(store::oci::kDockerManifestList) + ", " + std::string(store::oci::kDockerManifest);
}

}  // namespace

std::string describe_http_error(const HttpResponse& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  try {
    json j = json_text::parse(r.body);
    if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
      const json& e = j["errors"][0];
      // The registry's words, on the user's terminal: no control characters.
      out += ": " + escape_controls(e.value("message", std::string("error"))) + " (" +
             escape_controls(e.value("code", std::string("?"))) + ")";
      return out;
    }
  } catch (const json::exception&) {
  }
  return out;
}

namespace {

/// An --insecure-registry's relaxations hold for it alone, not for the
/// token server or blob storage it names: certificates are checked there.
/// Plain HTTP redirects stay allowed from it: its own answers, the
/// redirects among them, travel unchecked anyway.
TlsOptions effective_tls(const ClientOptions& o, const std::string& registry) {
  TlsOptions tls = o.tls;
  if (o.insecure) tls.unverified_host = api_host(registry);
  tls.plain_http_redirects = o.insecure;
  return tls;
}

}  // namespace

bool token_realm_allowed(std::string_view realm, bool insecure) {
  return insecure || url_origin(realm).starts_with("https://");
}

RegistryClient::RegistryClient(std::string registry, std::string repository, ClientOptions opts)
    : registry_(std::move(registry)),
      repository_(std::move(repository)),
      opts_(std::move(opts)),
      http_(effective_tls(opts_, registry_)) {
  if (opts_.cancelled) http_.set_cancel_check(opts_.cancelled);
  http_.set_answer_timeout(opts_.answer_timeout);
}

std::string RegistryClient::url(const std::string& path) const {
  return scheme_ + "://" + api_host(registry_) + "/v2/" + repository_ + "/" + path;
}

bool RegistryClient::from_registry(const HttpResponse& r) const { return url_origin(r.url) == url_origin(url("")); }

void RegistryClient::pause(int attempt) const {
  auto until = std::chrono::steady_clock::now() + opts_.backoff * (1 << attempt);
  // A Ctrl-C ends the wait, as it ends a transfer.
  for (auto now = std::chrono::steady_clock::now(); now < until; now = std::chrono::steady_clock::now()) {
    if (opts_.cancelled && opts_.cancelled()) throw Error("interrupted while waiting to try again");
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(20)));
  }
}

namespace {

/// What an insecure registry's https may fail with on first contact when
/// it speaks plain HTTP: a TLS handshake answered by HTTP or hung up on, or
/// no https port at all (80, not 443). A name not resolved or a timeout is
/// no sign of it, and its error is the one to tell.
bool may_be_plain_http(const TransportError& e) { return e.failure() != TransportFailure::kOther; }

}  // namespace

bool RegistryClient::on_registry(const TransportError& e) const {
  return e.url().empty() || url_on_host(e.url(), api_host(registry_));
}

void RegistryClient::fail_with_hint(const TransportError& e) const {
  std::string what = e.what();
  // --insecure-registry leaves the registry's own certificate unchecked
  // alone: not that of a host it redirects to, whose CA is the way.
  const bool registry_host = on_registry(e);
  if (e.failure() == TransportFailure::kCertificate && (!opts_.insecure || !registry_host))
    throw Error(what + " (trust " + (registry_host ? "the registry's" : "its") + " CA with --ca-file" +
                (opts_.registry_ca_file.empty() ? "" : " or in " + quote(opts_.registry_ca_file)) +
                (registry_host ? ", or allow it unverified with --insecure-registry " + registry_ : std::string()) +
                ")");
  if (!opts_.insecure && registry_host && what.find("wrong version number") != std::string::npos)
    throw Error(what + " (a plain-HTTP registry? allow it with --insecure-registry " + registry_ + ")");
  throw e;
}

HttpResponse RegistryClient::send(const std::string& path, std::vector<std::string> headers, const BodySink& sink,
                                  const std::function<HttpRequest(HttpRequest)>& adjust, size_t limit) {
  bool authenticated_now = false;
  uint64_t last_from = 0;
  for (int attempt = 0;; ++attempt) {
    HttpRequest req;
    req.url = url(path);
    req.headers = headers;
    if (!authorization_.empty()) req.headers.push_back(authorization_);
    if (adjust) req = adjust(req);
    // A download that resumes further than its last try got somewhere: a
    // flaky line may take more tries than `attempts` for a large blob.
    if (req.range_from > last_from) attempt = 0;
    last_from = req.range_from;
    HttpResponse r;
    try {
      r = http_.get(req, sink, limit);
    } catch (const TransportError& e) {
      // An insecure registry may speak plain HTTP: found out on first
      // contact (its own failure, not that of a host it redirected to).
      if (opts_.insecure && !scheme_settled_ && scheme_ == "https" && may_be_plain_http(e) && on_registry(e)) {
        scheme_ = "http";
        --attempt;
        continue;
      }
      if (!e.transient() || attempt + 1 >= opts_.attempts) fail_with_hint(e);
      pause(attempt);
      continue;
    }
    scheme_settled_ = true;
    if (r.status == 401 && !authenticated_now && from_registry(r)) {
      authenticate(r);
      authenticated_now = true;
      --attempt;
      continue;
    }
    if (retryable_status(r.status) && attempt + 1 < opts_.attempts) {
      pause(attempt);
      continue;
    }
    return r;
  }
}

std::string RegistryClient::fetch_token(const Challenge& c) {
  auto realm = c.params.find("realm");
  if (realm == c.params.end() || realm->second.empty()) throw Error("the Bearer challenge names no realm");
  if (!token_realm_allowed(realm->second, opts_.insecure))
    throw Error("the HTTPS registry " + quote(registry_) + " names a plain-HTTP token server, " + quote(realm->second) +
                ": refused");
  std::string url = realm->second;
  url += url.find('?') == std::string::npos ? '?' : '&';
  bool first = true;
  auto add = [&](const std::string& k, const std::string& v) {
    url += (first ? "" : "&") + k + "=" + percent_encode(v);
    first = false;
  };
  if (auto s = c.params.find("service"); s != c.params.end()) add("service", s->second);
  auto scope = c.params.find("scope");
  add("scope", scope != c.params.end() ? scope->second : "repository:" + repository_ + ":pull");
  HttpRequest req;
  req.url = url;
  if (opts_.credentials)
    req.headers.push_back("Authorization: Basic " +
                          base64_encode(opts_.credentials->username + ":" + opts_.credentials->password));
  HttpResponse r;
  for (int attempt = 0;; ++attempt) {
    try {
      r = http_.get(req, {}, 1 << 20);
    } catch (const TransportError& e) {
      if (!e.transient() || attempt + 1 >= opts_.attempts) with_context("getting a token", [&] { fail_with_hint(e); });
      pause(attempt);
      continue;
    }
    if (retryable_status(r.status) && attempt + 1 < opts_.attempts) {
      pause(attempt);
      continue;
    }
    break;
  }
  if ((r.status == 401 || r.status == 403) && opts_.credentials)
    throw Error("the token server " + quote(realm->second) + " refused the credentials of " +
                opts_.credentials->owner() + ": HTTP " + std::to_string(r.status));
  // Anonymous, a refusal is all a registry says of a repository it lacks.
  if (r.status == 401 || r.status == 403)
    throw Denied("the token server " + quote(realm->second) + " refused anonymous access (HTTP " +
                 std::to_string(r.status) + "); give credentials with --creds or in an auth file");
  if (r.status != 200) throw Error("getting a token from " + quote(realm->second) + ": " + describe_http_error(r));
  try {
    json j = json_text::parse(r.body);
    std::string token = j.value("token", std::string());
    if (token.empty()) token = j.value("access_token", std::string());
    if (token.empty()) throw Error("the token server " + quote(realm->second) + " sent no token");
    return token;
  } catch (const json::exception& e) {
    throw Error("the token server " + quote(realm->second) + " sent invalid JSON: " + e.what());
  }
}

void RegistryClient::authenticate(const HttpResponse& unauthorized) {
  std::string header = unauthorized.header("www-authenticate");
  if (header.empty()) throw Error("the registry " + quote(registry_) + " refused access (HTTP 401) without a challenge");
  std::vector<Challenge> challenges = parse_www_authenticate(header);
  for (const auto& c : challenges) {
    if (c.scheme == "bearer") {
      authorization_ = "Authorization: Bearer " + fetch_token(c);
      return;
    }
  }
  for (const auto& c : challenges) {
    if (c.scheme == "basic") {
      if (!opts_.credentials)
        throw Error("the registry " + quote(registry_) +
                    " requires a user name and password: give them with --creds or in an auth file");
      authorization_ = "Authorization: Basic " +
                       base64_encode(opts_.credentials->username + ":" + opts_.credentials->password);
      basic_credentials_sent_ = true;
      return;
    }
  }
  throw Error("the registry " + quote(registry_) + " asks for an unsupported authentication: " + quote(header));
}

void RegistryClient::check_status(const HttpResponse& r, const std::string& what) const {
  if (r.status >= 200 && r.status < 300) return;
  // Refused with the user's name and password: wrong ones, or an account
  // without access; either way not a miss a short name's next registry may
  // fill. (A token server refuses wrong ones itself, in fetch_token(). A
  // registry that refuses the token it gave the user may just lack the
  // repository: Docker Hub says so of one it does not have.)
  if ((r.status == 401 || r.status == 403) && !from_registry(r))
    throw Error(what + ": " + quote(url_origin(r.url)) + ", where the registry " + quote(registry_) +
                " redirected the request, refused access (" + describe_http_error(r) + ")");
  if ((r.status == 401 || r.status == 403) && basic_credentials_sent_)
    throw Error(what + ": the registry " + quote(registry_) + " refused the credentials of " +
                opts_.credentials->owner() + ": " + describe_http_error(r));
  if (r.status == 401 || r.status == 403)
    throw Denied(what + ": access denied by " + quote(registry_) + " (" + describe_http_error(r) + ")");
  if (r.status == 404) throw NotFound(what + ": " + describe_http_error(r));
  throw Error(what + ": " + describe_http_error(r));
}

FetchedManifest RegistryClient::manifest(const std::string& reference) {
  std::string what = "fetching manifest " + quote(reference);
  // A token server's refusal stays a Denied.
  HttpResponse r = with_context_keeping_misses(
      what, [&] { return send("manifests/" + reference, {accept_manifests()}, {}, {}, 4 << 20); });
  check_status(r, what);
  FetchedManifest m;
  m.body = std::move(r.body);
  m.digest = store::sha256_digest(m.body);
  if (store::is_sha256_digest(reference) && m.digest != reference)
    throw Error(what + ": the registry sent a manifest with digest " + m.digest);
  std::string claimed = r.header("docker-content-digest");
  if (store::is_sha256_digest(claimed) && claimed != m.digest)
    throw Error(what + ": the manifest's digest is " + m.digest + ", the registry says " + claimed);
  try {
    m.media_type = store::oci::document_media_type(json_text::parse(m.body));
  } catch (const json::exception& e) {
    throw Error(what + ": not JSON: " + e.what());
  }
  return m;
}

std::string RegistryClient::small_blob(const std::string& digest, size_t limit) {
  std::string what = "fetching blob " + digest;
  HttpResponse r = with_context(what, [&] { return send("blobs/" + digest, {}, {}, {}, limit); });
  check_status(r, what);
  if (store::sha256_digest(r.body) != digest)
    throw Error(what + ": the registry sent content with digest " + store::sha256_digest(r.body));
  return std::move(r.body);
}

void RegistryClient::fetch_blob(const std::string& digest, store::BlobWriter& w,
                                const std::function<void(uint64_t)>& progress) {
  std::string what = "fetching blob " + digest;
  const auto begun = std::chrono::steady_clock::now();
  const std::chrono::milliseconds allowed =
      opts_.blob_time_base +
      std::chrono::milliseconds(std::max<int64_t>(w.size(), 0) * 1000 / static_cast<int64_t>(opts_.blob_min_rate));
  with_context(what, [&] {
    bool restarted = false;
    for (;;) {
      bool ranged = false;  // a part was asked for: here, or by send() after a dropped connection
      auto start = [&](long status) {
        // 206: the rest of the blob; 200: all of it (no ranges here).
        if (status == 200 && w.offset() > 0) w.restart();
      };
      BodySink sink = [&](const char* p, size_t n) {
        w.write(p, n);
        if (progress) progress(w.offset());
      };
      // send() retries a dropped connection from what arrived so far.
      HttpResponse r;
      try {
        r = send("blobs/" + digest, {}, sink, [&](HttpRequest req) {
          req.range_from = w.offset();
          ranged = ranged || req.range_from > 0;
          req.on_body_start = start;
          req.deadline = begun + allowed;
          return req;
        });
      } catch (const TransportError&) {
        if (std::chrono::steady_clock::now() <= begun + allowed) throw;
        throw Error("only " + store::human_bytes(w.offset()) + " of its " +
                    store::human_bytes(std::max<int64_t>(w.size(), 0)) + " came within the " + seconds_text(allowed) +
                    " crt waits for a blob of that size (" + seconds_text(opts_.blob_time_base) +
                    ", and 1 s for each " + store::human_bytes(opts_.blob_min_rate) +
                    " of it): the registry sends it too slowly; try again later, or pull from another");
      }
      if (r.status == 416 && ranged) {
        w.restart();
        continue;
      }
      check_status(r, "the request");
      try {
        w.commit();
        return;
      } catch (const Error&) {
        // What came of a part asked for may not fit what came before (an
        // earlier run's partial download, a server that sent another part):
        // start once afresh.
        if (restarted || !ranged) throw;
        restarted = true;
      }
    }
  });
}

}  // namespace crt::registry
