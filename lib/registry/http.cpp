#include "registry/http.hpp"

#include <curl/curl.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <optional>

#include "common/ascii.hpp"
#include "common/late_library.hpp"
#include "common/strings.hpp"

namespace crt::registry {

namespace {

/// libcurl, loaded when crt first talks to a registry (LateLibrary): it and
/// the 25 libraries it pulls in would otherwise be mapped by every crt
/// command, a third of the start-up time of `crt run` of a stored image.
#define CRT_LIBCURL_FUNCTIONS(X) \
  X(curl_global_init)            \
  X(curl_easy_init)              \
  X(curl_easy_cleanup)           \
  X(curl_easy_reset)             \
  X(curl_easy_setopt)            \
  X(curl_easy_perform)           \
  X(curl_easy_getinfo)           \
  X(curl_easy_strerror)          \
  X(curl_slist_append)           \
  X(curl_slist_free_all)

struct Curl {
  CRT_LIBCURL_FUNCTIONS(CRT_LATE_FIELD)
};

Curl load_curl() {
  LateLibrary lib("libcurl.so.4", "talk to registries", "libcurl4");
  Curl api{};
  CRT_LIBCURL_FUNCTIONS(CRT_LATE_RESOLVE)
  api.curl_global_init(CURL_GLOBAL_DEFAULT);
  return api;
}

/// Loads libcurl once; a failure is reported to every caller.
const Curl& curl() {
  static std::once_flag once;
  static Curl api;
  static std::string error;
  std::call_once(once, [] {
    try {
      api = load_curl();
    } catch (const Error& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw Error(error);
  return api;
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string url_origin(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return ascii_lower(std::string(url));
  size_t start = scheme_end + 3;
  std::string_view authority = url.substr(start, url.find_first_of("/?#", start) - start);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string origin = ascii_lower(std::string(url.substr(0, start)) + std::string(authority));
  // A default port names the place its absence names.
  std::string_view default_port = origin.starts_with("https://") ? ":443" : ":80";
  if (origin.ends_with(default_port)) origin.resize(origin.size() - default_port.size());
  return origin;
}

bool url_on_host(std::string_view url, std::string_view host) {
  size_t scheme_end = url.find("://");
  if (host.empty() || scheme_end == std::string_view::npos) return false;
  // Spelled as a URL of the same scheme, `host` has the origin of `url`
  // when it is where `url` goes: a default port written or not alike.
  return url_origin(url) == url_origin(std::string(url.substr(0, scheme_end + 3)) + std::string(host));
}

struct HttpClient::Transfer {
  HttpResponse response;
  const BodySink* sink = nullptr;
  const HttpRequest* request = nullptr;
  bool body_started = false;
  size_t limit = 0;
  std::exception_ptr error;
  bool too_large = false;
  const std::function<bool()>* cancelled = nullptr;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  bool timed_out = false;
  bool past_request_deadline = false;

  // A C callback: what it throws (std::bad_alloc) is kept, 0 aborts the
  // transfer, and get() rethrows it after curl.
  static size_t on_header(char* data, size_t, size_t n, void* self_arg) {
    auto* self = static_cast<Transfer*>(self_arg);
    try {
      self->take_header({data, n});
      return n;
    } catch (...) {
      self->error = std::current_exception();
      return 0;
    }
  }

  void take_header(std::string_view raw) {
    std::string line = trim_end(raw, "\r\n");
    if (line.rfind("HTTP/", 0) == 0) {
      // A new response (after a redirect or a 100): forget the last one's.
      response.headers.clear();
      size_t sp = line.find(' ');
      response.status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
      return;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) return;
    std::string name = ascii_lower(line.substr(0, colon));
    std::string value = trim_start(std::string_view(line).substr(colon + 1), " \t");
    // A header sent on several lines is one list (RFC 7230, 3.2.2): a
    // registry's Bearer challenge on one line and Basic on the next.
    auto [it, added] = response.headers.emplace(name, value);
    if (!added) it->second += ", " + value;
  }

  // A C callback: an exception (from the sink, or std::bad_alloc) is kept
  // and rethrown after curl.
  static size_t on_body(char* data, size_t, size_t n, void* self_arg) {
    auto* self = static_cast<Transfer*>(self_arg);
    try {
      return self->take_body(data, n);
    } catch (...) {
      self->error = std::current_exception();
      return 0;
    }
  }

  size_t take_body(const char* data, size_t n) {
    bool ok = response.status >= 200 && response.status < 300;
    if (ok && sink != nullptr && *sink) {
      if (!body_started && request->on_body_start) request->on_body_start(response.status);
      body_started = true;
      (*sink)(data, n);
      return n;
    }
    if (response.body.size() + n > limit) {
      too_large = true;
      return 0;
    }
    response.body.append(data, n);
    return n;
  }

  // A C callback, as on_body: the cancel check may throw.
  static int on_progress(void* self_arg, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<Transfer*>(self_arg);
    try {
      if (self->cancelled != nullptr && *self->cancelled && (*self->cancelled)()) return 1;
    } catch (...) {
      self->error = std::current_exception();
      return 1;
    }
    auto now = std::chrono::steady_clock::now();
    // A body streamed to the sink has no deadline of its own (a layer may
    // be large): only the request's.
    if (!self->body_started && self->deadline && now > *self->deadline) {
      self->timed_out = true;
      return 1;
    }
    if (self->request->deadline && now > *self->request->deadline) {
      self->past_request_deadline = true;
      return 1;
    }
    return 0;
  }
};

HttpClient::HttpClient(TlsOptions tls) : tls_(std::move(tls)) {
  curl_ = curl().curl_easy_init();
  if (curl_ == nullptr) throw Error("initializing libcurl");
}

HttpClient::~HttpClient() { curl().curl_easy_cleanup(static_cast<CURL*>(curl_)); }

namespace {

TransportFailure classify_curl_error(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return TransportFailure::kNoConnection;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return TransportFailure::kDropped;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return TransportFailure::kCertificate;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CLIENTCERT:
      return TransportFailure::kTls;
    default:
      return TransportFailure::kOther;
  }
}

std::string seconds_or_ms(std::chrono::milliseconds t) {
  return t.count() % 1000 == 0 ? std::to_string(t.count() / 1000) + " s" : std::to_string(t.count()) + " ms";
}

bool transient_curl_error(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

constexpr int kMaxRedirects = 10;

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool is_authorization(const std::string& header) {
  return ascii_lower(header.substr(0, header.find(':'))) == "authorization";
}

}  // namespace

// crt follows redirects itself, not libcurl: CURLOPT_SSL_VERIFYPEER would
// hold for every host of a transfer, the registry's and those it redirects
// to alike; and the Authorization header is crt's to drop on a change of
// origin (libcurl drops it on a change of host, port or scheme only since
// 7.83).
HttpResponse HttpClient::get(const HttpRequest& req, const BodySink& sink, size_t limit) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (answer_timeout_.count() > 0) deadline = std::chrono::steady_clock::now() + answer_timeout_;
  std::string origin = url_origin(req.url);
  HttpRequest hop = req;
  for (int redirects = 0;; ++redirects) {
    Hop h = get_once(hop, sink, limit, deadline);
    if (h.location.empty()) return std::move(h.response);
    std::string what = "GET " + escape_controls(hop.url);
    if (redirects == kMaxRedirects) throw Error(what + ": more than " + std::to_string(kMaxRedirects) + " redirects");
    std::string to = url_origin(h.location);
    if (to.starts_with("http://") && !tls_.plain_http_redirects)
      throw Error(what + ": refused a redirect to plain HTTP: " + quote(h.location));
    if (!to.starts_with("http://") && !to.starts_with("https://"))
      throw Error(what + ": refused a redirect to " + quote(h.location) + ": not HTTP");
    hop.url = std::move(h.location);
    hop.headers = req.headers;
    if (to != origin) std::erase_if(hop.headers, is_authorization);
  }
}

HttpClient::Hop HttpClient::get_once(const HttpRequest& req, const BodySink& sink, size_t limit,
                                     std::optional<std::chrono::steady_clock::time_point> deadline) {
  const Curl& api = curl();
  CURL* c = static_cast<CURL*>(curl_);
  api.curl_easy_reset(c);
  Transfer t;
  t.sink = &sink;
  t.request = &req;
  t.limit = limit;
  t.cancelled = &cancelled_;
  t.deadline = deadline;
  curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = api.curl_slist_append(headers, h.c_str());
  struct SlistFree {
    curl_slist*& l;
    ~SlistFree() { curl().curl_slist_free_all(l); }
  } free_headers{headers};
  std::string range = req.range_from > 0 ? std::to_string(req.range_from) + "-" : "";

  api.curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  api.curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  api.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  api.curl_easy_setopt(c, CURLOPT_USERAGENT, "crt/" CRT_VERSION);
  api.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled transfer (under 1 kB/s for 30 s) fails and is retried.
  api.curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  api.curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  api.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  api.curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  api.curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  api.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  api.curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  api.curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  api.curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Transfer::on_progress);
  api.curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (!range.empty()) api.curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  if (!tls_.ca_file.empty()) api.curl_easy_setopt(c, CURLOPT_CAINFO, tls_.ca_file.c_str());
  if (url_on_host(req.url, tls_.unverified_host)) {
    api.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    api.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  api.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = api.curl_easy_perform(c);
  if (t.error) std::rethrow_exception(t.error);
  // The URL may be a registry's (a token realm): no control characters.
  std::string what = "GET " + escape_controls(req.url);
  if (rc == CURLE_ABORTED_BY_CALLBACK && t.timed_out)
    throw TransportError(what + ": no complete answer within " + seconds_or_ms(answer_timeout_), true);
  if (rc == CURLE_ABORTED_BY_CALLBACK && t.past_request_deadline)
    throw TransportError(what + ": not complete by the request's deadline", false);
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw Error(what + ": interrupted");
  if (t.too_large) throw Error(what + ": the response is larger than " + std::to_string(limit) + " bytes");
  // An error status is the answer even when its body is cut short:
  // docker-distribution announces the blob's length on a 416 and sends none.
  bool cut_error_answer = rc == CURLE_PARTIAL_FILE && t.response.status >= 400;
  if (rc != CURLE_OK && !cut_error_answer) {
    std::string why = errbuf[0] != '\0' ? errbuf : api.curl_easy_strerror(rc);
    throw TransportError(what + ": " + escape_controls(why), transient_curl_error(rc), classify_curl_error(rc),
                         req.url);
  }
  Hop hop{std::move(t.response), ""};
  hop.response.url = req.url;
  char* location = nullptr;
  if (is_redirect(hop.response.status) && api.curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
      location != nullptr)
    hop.location = location;
  return hop;
}

}  // namespace crt::registry
