#include "wait_file.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace crt::prepare_app {

void wait_for_file(const std::filesystem::path& file, std::chrono::milliseconds timeout) {
  if (::access(file.c_str(), F_OK) == 0) return;
  UniqueFd in(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!in) throw_errno("watching " + quote(file.parent_path().string()));
  if (::inotify_add_watch(in.get(), file.parent_path().c_str(), IN_CREATE | IN_MOVED_TO) < 0)
    throw_errno("watching " + quote(file.parent_path().string()));
  auto until = std::chrono::steady_clock::now() + timeout;
  // Checked after the watch is in place, so that nothing is missed.
  while (::access(file.c_str(), F_OK) != 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw Error(quote(file.string()) + " did not appear in " + std::to_string(timeout.count() / 1000) + " s");
    pollfd p{in.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) throw_errno("waiting for " + quote(file.string()));
    char buf[4096];
    while (::read(in.get(), buf, sizeof buf) > 0) {
    }
  }
}

}  // namespace crt::prepare_app
