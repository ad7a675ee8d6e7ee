#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace crt::registry {

struct TlsOptions {
  std::string ca_file;  ///< extra CA bundle (PEM); empty: the system's
  /// "host[:port]" whose certificate is not checked (an --insecure-registry);
  /// every other host's is, its token server's and its blob storage's too.
  std::string unverified_host;
  /// Redirects may lead to plain HTTP. Not from a registry reached over
  /// verified HTTPS: an attacker on the line could swap a manifest fetched
  /// by tag, which no digest checks.
  bool plain_http_redirects = false;
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value"
  uint64_t range_from = 0;           ///< > 0: ask for the bytes from there on
  /// Called with the status before the first byte of a 2xx body reaches the sink.
  std::function<void(long status)> on_body_start;
  /// When set, the transfer, a body streamed to a sink too, fails at this
  /// time (a TransportError that is not transient): a blob's bound over all
  /// its tries.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct HttpResponse {
  long status = 0;
  /// Of the final response; names lowercase, repeated ones joined by ", ".
  std::map<std::string, std::string> headers;
  std::string body;                            ///< when no sink took it (at most the limit)
  std::string url;                             ///< after redirects
  [[nodiscard]] std::string header(const std::string& lower_name) const;
};

/// "scheme://host[:port]" of an absolute URL, lowercase and without user
/// information: where a request went (after redirects, HttpResponse::url).
std::string url_origin(std::string_view url);

/// Whether `url` goes to `host` ("name[:port]"; no port: the scheme's).
bool url_on_host(std::string_view url, std::string_view host);

/// What failed below HTTP, as far as crt's next step depends on it.
enum class TransportFailure {
  kOther,         ///< a name not resolved, a timeout …
  kNoConnection,  ///< nothing accepted the connection (refused, unreachable)
  kDropped,       ///< the server reset or closed the connection
  kTls,           ///< the TLS handshake failed (no TLS there, or none crt can use)
  kCertificate,   ///< the server's certificate is not trusted
};

/// A request that failed below HTTP: connection, TLS, timeout, reset.
class TransportError : public Error {
 public:
  TransportError(const std::string& message, bool transient, TransportFailure failure = TransportFailure::kOther,
                 std::string url = "")
      : Error(message), transient_(transient), failure_(failure), url_(std::move(url)) {}
  /// Worth retrying (a reset or a timeout; not a certificate problem).
  [[nodiscard]] bool transient() const { return transient_; }
  [[nodiscard]] TransportFailure failure() const { return failure_; }
  /// The request that failed (a redirect's, after one); empty if unknown.
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  bool transient_;
  TransportFailure failure_;
  std::string url_;
};

/// How long an answer may take in all, unless it is a body crt streams to a
/// sink (a layer blob, of any size, which only the low-speed limit of 1 kB/s
/// over 30 s watches). Manifests, tokens, configurations and error bodies
/// are kilobytes as a rule (crt takes a manifest up to 4 MiB, a
/// configuration up to 16 MiB): 2 minutes is ample on a slow line, and a
/// registry that trickles or never ends its answer is not waited for longer.
inline constexpr std::chrono::milliseconds kAnswerTimeout = std::chrono::minutes(2);

/// Receives a 2xx response body; may throw to abort the transfer.
using BodySink = std::function<void(const char* data, size_t size)>;

/// HTTP(S) GET over libcurl: redirects followed (an Authorization header
/// is not sent to another origin), TLS verified against the system's CAs
/// and `ca_file` on every host but TlsOptions::unverified_host.
class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs a GET. A 2xx body goes to `sink` when given; any other body
  /// (and a 2xx one without a sink) is kept in the response, up to `limit`
  /// bytes. Throws TransportError when no HTTP response came.
  HttpResponse get(const HttpRequest& req, const BodySink& sink = {}, size_t limit = 8 << 20);

  /// Called during transfers; returning true aborts them (Ctrl-C).
  void set_cancel_check(std::function<bool()> f) { cancelled_ = std::move(f); }
  /// The limit of an answer but a body streamed to a sink (kAnswerTimeout).
  void set_answer_timeout(std::chrono::milliseconds t) { answer_timeout_ = t; }

 private:
  struct Transfer;
  /// One request of get(), its redirect not followed.
  struct Hop {
    HttpResponse response;
    std::string location;  ///< where a redirect points, resolved; empty: none
  };
  Hop get_once(const HttpRequest& req, const BodySink& sink, size_t limit,
               std::optional<std::chrono::steady_clock::time_point> deadline);

  void* curl_;
  TlsOptions tls_;
  std::function<bool()> cancelled_;
  std::chrono::milliseconds answer_timeout_ = kAnswerTimeout;
};

}  // namespace crt::registry
