#include "http_stub.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace crt::test {

HttpStub::HttpStub(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(listen_fd_, 16) < 0)
    throw std::runtime_error("HttpStub: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(stop_pipe_, O_CLOEXEC) < 0) throw std::runtime_error("HttpStub: pipe");
  thread_ = std::thread([this] { serve(); });
}

HttpStub::~HttpStub() {
  (void)!::write(stop_pipe_[1], "x", 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

std::vector<HttpStub::Request> HttpStub::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void HttpStub::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    try {
      handle(fd);
    } catch (...) {
    }
    ::close(fd);
  }
}

namespace {

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 307: return "Temporary Redirect";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

HttpStub::Response range_answer(const HttpStub::Request& r, const std::string& data) {
  auto range = r.headers.find("range");
  if (range == r.headers.end()) return {200, {}, data, -1, {}};
  size_t from = std::stoul(range->second.substr(6));
  return {206,
          {{"Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(data.size() - 1) + "/" +
                                 std::to_string(data.size())}},
          data.substr(from),
          -1,
          {}};
}

void HttpStub::handle(int fd) {
  std::string in;
  char buf[4096];
  while (in.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    in.append(buf, static_cast<size_t>(n));
    // Not HTTP (a TLS handshake): hang up at once, as a plain server would.
    if (!std::isupper(static_cast<unsigned char>(in[0]))) return;
  }
  Request req;
  size_t eol = in.find("\r\n");
  std::string line = in.substr(0, eol);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  req.method = line.substr(0, sp1);
  req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = eol + 2;
  while (true) {
    size_t e = in.find("\r\n", pos);
    if (e == pos || e == std::string::npos) break;
    std::string h = in.substr(pos, e - pos);
    size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      size_t v = h.find_first_not_of(' ', colon + 1);
      req.headers[name] = v == std::string::npos ? "" : h.substr(v);
    }
    pos = e + 2;
  }
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(req);
  }
  Response r = handler_(req);
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
  for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!send_all(fd, head.data(), head.size())) return;
  size_t n = r.cut_after >= 0 ? std::min(r.body.size(), static_cast<size_t>(r.cut_after)) : r.body.size();
  if (req.method != "HEAD" && !send_all(fd, r.body.data(), n)) return;
  if (r.cut_after >= 0) {
    cut_sent_ = true;
    // Stalls until the client goes away, the stub stops or time is up.
    pollfd p[2] = {{stop_pipe_[0], POLLIN, 0}, {fd, POLLIN, 0}};
    ::poll(p, 2, static_cast<int>(r.stall.count()));
  }
}

}  // namespace crt::test
