#include "journal_sync.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace crt::app_exited {

namespace {

constexpr const char kRequest[] = R"({"method":"io.systemd.Journal.Synchronize","parameters":{}})";

}  // namespace

namespace {

/// Sends `request` to `socket` and waits up to `timeout` for an answer that
/// `verdict` finds complete (it returns 1 for a good one, 0 for an error,
/// -1 while incomplete), asking `keep_waiting` every 500 ms whether to wait
/// on; false if there is none in time.
bool ask(const char* socket, std::string_view request, std::chrono::milliseconds timeout,
         const std::function<bool()>& keep_waiting, const std::function<int(const std::string&)>& verdict) {
  constexpr std::chrono::milliseconds kSlice(500);
  auto until = std::chrono::steady_clock::now() + timeout;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket, sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return false;
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return false;
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
    if (int v = verdict(reply); v >= 0) return v == 1;
  }
}

}  // namespace

bool sync_journal(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting, const char* socket) {
  // A varlink message is JSON terminated by a NUL byte.
  return ask(socket, std::string_view(kRequest, sizeof kRequest), timeout, keep_waiting, [](const std::string& reply) {
    if (reply.find('\0') == std::string::npos) return -1;
    return reply.find("\"error\"") == std::string::npos ? 1 : 0;
  });
}

bool flush_output(const std::string& app, const std::string& mark, std::chrono::milliseconds timeout,
                  const std::function<bool()>& keep_waiting, const char* socket) {
  std::string request = mark.empty() ? app + "\n" : app + " " + mark + "\n";
  return ask(socket, request, timeout, keep_waiting,
             [](const std::string& reply) { return reply.find('\n') == std::string::npos ? -1 : 1; });
}

}  // namespace crt::app_exited
