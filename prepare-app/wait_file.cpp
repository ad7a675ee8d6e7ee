#include "wait_file.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace crt::prepare_app {

namespace {

enum class Writer { kListening, kGone, kUnknown };

/// Connects to the writer's socket: a connection the listener never
/// accepts, which breaks when it closes the socket (or exits).
UniqueFd connect_to(const std::filesystem::path& socket_path, Writer& state) {
  state = Writer::kUnknown;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.string().size() >= sizeof addr.sun_path) return {};
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return {};
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    state = Writer::kListening;
    return fd;
  }
  if (errno == ECONNREFUSED) state = Writer::kGone;
  return {};  // ENOENT: no writer that says so; EAGAIN: its backlog is full
}

}  // namespace

void wait_for_file(const std::filesystem::path& file, std::chrono::milliseconds timeout,
                   const std::filesystem::path& writer) {
  if (::access(file.c_str(), F_OK) == 0) return;
  UniqueFd in(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!in) throw_errno("watching " + quote(file.parent_path().string()));
  if (::inotify_add_watch(in.get(), file.parent_path().c_str(), IN_CREATE | IN_MOVED_TO) < 0)
    throw_errno("watching " + quote(file.parent_path().string()));
  Writer state = Writer::kUnknown;
  UniqueFd link = connect_to(writer, state);
  auto until = std::chrono::steady_clock::now() + timeout;
  // Checked after the watch is in place (and the writer's state known),
  // so that nothing is missed: the writer makes the file before it closes.
  while (::access(file.c_str(), F_OK) != 0) {
    if (state == Writer::kGone)
      throw Error(quote(file.string()) + " never came: the process that was to write it (listening on " +
                  quote(writer.string()) + ") is gone");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw Error(quote(file.string()) + " did not appear in " + std::to_string(timeout.count() / 1000) + " s");
    pollfd p[2] = {{in.get(), POLLIN, 0}, {link.get(), POLLIN, 0}};
    if (::poll(p, link ? 2 : 1, static_cast<int>(left.count())) < 0 && errno != EINTR)
      throw_errno("waiting for " + quote(file.string()));
    char buf[4096];
    while (::read(in.get(), buf, sizeof buf) > 0) {
    }
    if (link && p[1].revents != 0) state = Writer::kGone;  // nothing is ever sent: a hang-up or a reset
  }
}

}  // namespace crt::prepare_app
