#include "runtime/slow_close.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mount/mounts.hpp"
#include "runtime/spawn.hpp"

namespace crt::runtime {

namespace {

/// Closes every fd of this process but those in `keep` (sorted), in a child:
/// system calls only.
void close_all_but(const std::vector<int>& keep, rlim_t limit) {
  auto range = [limit](unsigned from, unsigned to) {
    if (from > to || ::close_range(from, to, 0) == 0) return;
    for (unsigned fd = from; fd <= to && fd < limit; ++fd) ::close(static_cast<int>(fd));  // before Linux 5.9
  };
  unsigned from = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned>(fd) > from) range(from, static_cast<unsigned>(fd) - 1);
    from = static_cast<unsigned>(fd) + 1;
  }
  range(from, ~0U);
}

/// Whether /proc/…/fd/N `link` is an inotify descriptor.
bool is_inotify(const std::string& link) {
  std::array<char, 64> target{};
  ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  return n > 0 && std::string_view(target.data(), static_cast<size_t>(n)) == "anon_inode:inotify";
}

}  // namespace

UniqueFd hold_in_child(const std::vector<int>& fds) {
  if (fds.empty()) return {};
  int host_ns = mount::original_mount_namespace();
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) < 0) return {};
  UniqueFd wait_end(ends[0]), go_end(ends[1]);
  std::vector<int> keep = fds;
  keep.push_back(wait_end.get());
  std::sort(keep.begin(), keep.end());
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  rlim_t limit = std::min<rlim_t>(nofile.rlim_cur, 1 << 20);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Outside crt's private mount namespace: the pod's mounts go when crt
    // exits, not when this child does.
    if (host_ns >= 0) ::setns(host_ns, CLONE_NEWNS);
    close_all_but(keep, limit);
    char c;
    while (::read(wait_end.get(), &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);  // the slow closes happen here
  }
  if (pid < 0) return {};
  return go_end;
}

std::vector<UniqueFd> copy_inotify_fds(pid_t pid) {
  std::vector<UniqueFd> out;
  UniqueFd pidfd = open_pidfd(pid);
  if (!pidfd) return out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long target = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    if (!is_inotify(dir + "/" + e->d_name)) continue;
    UniqueFd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), static_cast<int>(target), 0)));
    // The number may have been closed and taken again meanwhile.
    if (copy && is_inotify("/proc/self/fd/" + std::to_string(copy.get()))) out.push_back(std::move(copy));
  }
  ::closedir(d);
  return out;
}

}  // namespace crt::runtime
