#include "notify_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace crt::test {

NotifySocket::NotifySocket(std::string path) : path_(std::move(path)) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("NotifySocket: path too long: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size());
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int on = 1;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on) < 0) {
    std::string why = std::strerror(errno);
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("NotifySocket: binding " + path_ + ": " + why);
  }
  int big = 1 << 20;
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  reader_ = std::thread([this] {
    while (!stop_) read_queued(100);
  });
}

NotifySocket::~NotifySocket() {
  stop_ = true;
  reader_.join();
  ::close(fd_);
  ::unlink(path_.c_str());
}

void NotifySocket::read_queued(int poll_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, poll_ms) <= 0) return;
  std::lock_guard lock(mutex_);
  for (;;) {
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timeval))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return;
    Message m{std::string(buf, static_cast<size_t>(n)), std::nullopt};
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c != nullptr && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
      timeval tv{};
      std::memcpy(&tv, CMSG_DATA(c), sizeof tv);
      m.arrived = static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    }
    messages_.push_back(std::move(m));
  }
}

std::vector<NotifySocket::Message> NotifySocket::messages() {
  read_queued(0);
  std::lock_guard lock(mutex_);
  return messages_;
}

std::vector<std::string> NotifySocket::texts() {
  std::vector<std::string> out;
  for (auto& m : messages()) out.push_back(std::move(m.text));
  return out;
}

std::vector<double> NotifySocket::arrivals(const std::string& text) {
  std::vector<double> out;
  for (const auto& m : messages())
    if (m.text == text) out.push_back(m.arrived.value_or(-1));
  return out;
}

}  // namespace crt::test
