#include "common/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <set>

#include "common/error.hpp"

namespace crt {

namespace {

UniqueFd open_for_lock(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == ENOENT) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("opening " + quote(path.string()) + " for locking");
  return UniqueFd(fd);
}

int lock_op(FileLock::Mode mode) { return mode == FileLock::Mode::kShared ? LOCK_SH : LOCK_EX; }

}  // namespace

FileLock FileLock::acquire(const std::filesystem::path& path, Mode mode) {
  UniqueFd fd = open_for_lock(path);
  while (::flock(fd.get(), lock_op(mode)) < 0) {
    if (errno != EINTR) throw_errno("locking " + quote(path.string()));
  }
  return FileLock(std::move(fd));
}

FileLock FileLock::acquire(UniqueFd fd, Mode mode) {
  while (::flock(fd.get(), lock_op(mode)) < 0) {
    if (errno != EINTR) throw_errno("locking");
  }
  return FileLock(std::move(fd));
}

FileLock FileLock::acquire(const std::filesystem::path& path, Mode mode, const LockWait& wait,
                           const std::string& what) {
  if (!wait.waiting && !wait.cancelled) return acquire(path, mode);
  UniqueFd fd = open_for_lock(path);
  bool told = false;
  // Polled, not a blocking flock: a caller whose signals are blocked would
  // not be woken by Ctrl-C, and flock has no timeout.
  while (::flock(fd.get(), lock_op(mode) | LOCK_NB) < 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) throw_errno("locking " + quote(path.string()));
    if (!told && wait.waiting) wait.waiting(what);
    told = true;
    if (wait.cancelled && wait.cancelled()) throw Error("interrupted while waiting for " + what);
    ::usleep(50'000);
  }
  return FileLock(std::move(fd));
}

FileLock FileLock::acquire_within(const std::filesystem::path& path, Mode mode, std::chrono::milliseconds most,
                                  const std::function<void()>& while_held, std::chrono::milliseconds notice_every) {
  UniqueFd fd = open_for_lock(path);
  auto until = std::chrono::steady_clock::now() + most;
  std::optional<std::chrono::steady_clock::time_point> told;
  while (::flock(fd.get(), lock_op(mode) | LOCK_NB) < 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) throw_errno("locking " + quote(path.string()));
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return FileLock();
    if (while_held && (!told || now - *told >= notice_every)) {
      while_held();
      told = now;
    }
    ::usleep(50'000);
  }
  return FileLock(std::move(fd));
}

FileLock FileLock::try_acquire(const std::filesystem::path& path, Mode mode) {
  return try_acquire(open_for_lock(path), mode);
}

FileLock FileLock::try_acquire(UniqueFd fd, Mode mode) {
  if (::flock(fd.get(), lock_op(mode) | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK) return FileLock();
    throw_errno("locking");
  }
  return FileLock(std::move(fd));
}

bool FileLock::still_at(const std::filesystem::path& path) const {
  struct stat held {
  }, named{};
  if (::fstat(fd_.get(), &held) < 0) throw_errno("checking a lock");
  if (::stat(path.c_str(), &named) < 0) return false;
  return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

void FileLock::inherit_on_exec() {
  int flags = ::fcntl(fd_.get(), F_GETFD);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETFD, flags & ~FD_CLOEXEC) < 0) throw_errno("keeping a lock across exec");
}

namespace {

/// Whether /proc/PID/fdinfo/FD lists a lock of that open file.
bool fd_holds_a_lock(const std::filesystem::path& fdinfo) {
  std::ifstream in(fdinfo);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("lock:", 0) == 0) return true;
  return false;
}

}  // namespace

std::string processes_holding(const std::filesystem::path& path, bool locked_only) {
  struct stat target {};
  if (::stat(path.c_str(), &target) < 0) return {};
  const std::string self = std::to_string(::getpid());
  std::set<long> pids;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = proc.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      struct stat st {};
      if (::stat(fd.path().c_str(), &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino &&
          (!locked_only || fd_holds_a_lock(proc.path() / "fdinfo" / fd.path().filename()))) {
        pids.insert(std::stol(pid));
        break;
      }
    }
  }
  std::string out;
  for (long pid : pids) {
    std::string comm;
    std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm);
    if (!out.empty()) out += ", ";
    out += "PID " + std::to_string(pid) + (comm.empty() ? "" : " (" + comm + ")");
  }
  return out;
}

}  // namespace crt
