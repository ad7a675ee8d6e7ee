#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crt::test {

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests: a token server, or a
/// front that redirects to a real registry and misbehaves on purpose
/// (503s, dropped connections, stalls). One connection at a time, each
/// closed after its response.
class HttpStub {
 public:
  struct Request {
    std::string method;
    std::string target;                          ///< path and query
    std::map<std::string, std::string> headers;  ///< names lowercase
  };
  struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// >= 0: send only this many bytes of the body (after announcing all of
    /// it), then stall for `stall` and close: a transfer cut short.
    long cut_after = -1;
    std::chrono::milliseconds stall{0};
  };
  using Handler = std::function<Response(const Request&)>;

  explicit HttpStub(Handler handler);
  ~HttpStub();
  HttpStub(const HttpStub&) = delete;
  HttpStub& operator=(const HttpStub&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Every request so far.
  [[nodiscard]] std::vector<Request> requests() const;
  /// True once a response with cut_after has sent its part.
  [[nodiscard]] bool cut_sent() const { return cut_sent_; }

 private:
  void serve();
  void handle(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> cut_sent_{false};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

/// `data` from the request's "Range: bytes=N-" on, as a registry answers
/// for a blob: 206 with a Content-Range; without a Range 200 and all of it.
HttpStub::Response range_answer(const HttpStub::Request& r, const std::string& data);

}  // namespace crt::test
