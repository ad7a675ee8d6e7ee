#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.hpp"
#include "registry/auth.hpp"
#include "registry/http.hpp"
#include "registry/reference.hpp"
#include "store/blob_store.hpp"

namespace crt::registry {

struct ClientOptions {
  TlsOptions tls;
  /// Plain HTTP (or HTTPS without verification) allowed: --insecure-registry.
  bool insecure = false;
  /// The per-registry CA crt would take (certs.d/REGISTRY/ca.crt): an
  /// untrusted certificate's message names it.
  std::string registry_ca_file;
  std::optional<Credentials> credentials;
  /// Tries of a request failing transiently (reset, timeout, 5xx, 429); a
  /// blob's download that got further than its last try has them anew.
  int attempts = 4;
  std::chrono::milliseconds backoff{250};  ///< doubled after each failed try
  std::chrono::milliseconds answer_timeout = kAnswerTimeout;  ///< HttpClient::set_answer_timeout
  /// How long a blob's download may take in all, its tries and resumptions
  /// together: blob_time_base, and a second for each blob_min_rate bytes of
  /// it (10 minutes and 1 s per 20 kB: 93 minutes for 100 MB). A registry
  /// that trickles just above the low-speed limit (1 kB/s, which only a
  /// stall fails) would keep a large blob coming for hours, or days.
  std::chrono::milliseconds blob_time_base = std::chrono::minutes(10);
  uint64_t blob_min_rate = 20'000;
  std::function<bool()> cancelled;                            ///< true: abort (Ctrl-C)
};

/// A manifest or index as the registry sent it, its digest checked.
struct FetchedManifest {
  std::string media_type;
  std::string body;
  std::string digest;
};

/// The client of one repository of an OCI distribution registry: the
/// WWW-Authenticate challenge flow (Bearer tokens from the realm, Basic),
/// retries of transient failures, resumed blob downloads.
class RegistryClient {
 public:
  RegistryClient(std::string registry, std::string repository, ClientOptions opts);

  /// The manifest or index `reference` (a tag or a digest) names.
  FetchedManifest manifest(const std::string& reference);
  /// A small blob (a configuration), checked against `digest`.
  std::string small_blob(const std::string& digest, size_t limit = 16 << 20);
  /// Downloads a blob into `w`, from where `w` stands (resuming), retrying
  /// and resuming after transient failures; commits it (digest checked).
  /// Fails once the download took longer than ClientOptions allow for its size.
  void fetch_blob(const std::string& digest, store::BlobWriter& w, const std::function<void(uint64_t)>& progress);

  [[nodiscard]] const std::string& registry() const { return registry_; }

 private:
  HttpResponse send(const std::string& path, std::vector<std::string> headers, const BodySink& sink = {},
                    const std::function<HttpRequest(HttpRequest)>& adjust = {}, size_t limit = 8 << 20);
  void authenticate(const HttpResponse& unauthorized);
  std::string fetch_token(const Challenge& c);
  void check_status(const HttpResponse& r, const std::string& what) const;
  [[nodiscard]] std::string url(const std::string& path) const;
  /// Whether `r` is the registry's own answer, not that of a host it
  /// redirected to (a blob storage's): only its challenges get credentials.
  [[nodiscard]] bool from_registry(const HttpResponse& r) const;
  void pause(int attempt) const;
  /// Throws `e`, told what the user can do of an untrusted certificate or
  /// a registry that speaks plain HTTP.
  [[noreturn]] void fail_with_hint(const TransportError& e) const;
  /// Whether `e` is of a request to the registry itself (not to a host it
  /// redirected to).
  [[nodiscard]] bool on_registry(const TransportError& e) const;

  std::string registry_;
  std::string repository_;
  ClientOptions opts_;
  HttpClient http_;
  std::string scheme_ = "https";
  bool scheme_settled_ = false;
  std::string authorization_;      ///< "Authorization: …" once authenticated
  bool basic_credentials_sent_ = false;  ///< to the registry itself (Basic)
};

/// Whether crt asks the token server `realm` of a registry for a token:
/// over HTTPS alone, but from an --insecure-registry (`insecure`), whose
/// challenge that names it travels unchecked anyway. Over plain HTTP the
/// user's password would be seen on its way, the token forged.
bool token_realm_allowed(std::string_view realm, bool insecure);

/// "HTTP 404: manifest unknown (MANIFEST_UNKNOWN)", from a registry's error body.
std::string describe_http_error(const HttpResponse& r);

/// Thrown when the registry says the image or tag does not exist (404).
class NotFound : public Error {
 public:
  using Error::Error;
};

/// Thrown when the registry refuses anonymous access (401, 403): as Docker
/// Hub answers for a repository that does not exist, a NotFound for all crt
/// can tell. A refusal of credentials is an Error: a short name's next
/// registry is no stand-in for one the user has an account with.
class Denied : public NotFound {
 public:
  using NotFound::NotFound;
};

/// with_context() that keeps a miss what it is (Denied, NotFound): a short
/// name's next registry is tried after one.
template <typename F>
decltype(auto) with_context_keeping_misses(const std::string& context, F&& body) {
  try {
    return std::forward<F>(body)();
  } catch (const Denied& e) {
    throw Denied(context + ": " + e.what());
  } catch (const NotFound& e) {
    throw NotFound(context + ": " + e.what());
  } catch (const SystemError& e) {
    throw Error(context + ": " + e.what());
  } catch (const Error& e) {
    throw e.with_context(context);
  }
}

/// Runs `body`; a miss escaping it (Denied, NotFound) is a plain Error: the
/// registry had the image, and failed to give it.
template <typename F>
decltype(auto) misses_as_errors(F&& body) {
  try {
    return std::forward<F>(body)();
  } catch (const NotFound& e) {
    throw Error(e.what());
  }
}

}  // namespace crt::registry
