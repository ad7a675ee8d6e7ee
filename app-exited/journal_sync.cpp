#include "journal_sync.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/fd.hpp"

namespace crt::app_exited {

namespace {

constexpr const char kRequest[] = R"({"method":"io.systemd.Journal.Synchronize","parameters":{}})";

}  // namespace

bool sync_journal(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting, const char* socket) {
  constexpr std::chrono::milliseconds kSlice(500);
  auto until = std::chrono::steady_clock::now() + timeout;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket, sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return false;
  // A varlink message is JSON terminated by a NUL byte.
  if (::send(fd.get(), kRequest, sizeof kRequest, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof kRequest)) return false;
  std::string reply;
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int r = ::poll(&p, 1, static_cast<int>(std::min(left, kSlice).count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && (!keep_waiting || keep_waiting())) continue;
    if (r <= 0) return false;
    char buf[512];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return false;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.find('\0') != std::string::npos) return reply.find("\"error\"") == std::string::npos;
  }
}

}  // namespace crt::app_exited
