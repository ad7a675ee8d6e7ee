#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "common/fd.hpp"

namespace crt {

/// What a blocking lock does while another process holds it.
struct LockWait {
  /// Told once, when the lock turns out to be held, what is waited for.
  std::function<void(const std::string& what)> waiting;
  /// Asked every 50 ms while waiting: true ends the wait with an Error
  /// "interrupted" (for callers that block their signals).
  std::function<bool()> cancelled;
};

/// An flock(2) held on a file or directory until destruction.
class FileLock {
 public:
  enum class Mode { kShared, kExclusive };

  FileLock() = default;
  /// Blocks until the lock is held.
  static FileLock acquire(const std::filesystem::path& path, Mode mode);
  /// Blocks until the lock is held; if it is not free at once, says so
  /// (`what`: what holding it means) and can be cancelled, as `wait` says.
  static FileLock acquire(const std::filesystem::path& path, Mode mode, const LockWait& wait, const std::string& what);
  /// Waits for the lock `most` at most, trying it every 50 ms (flock(2)
  /// has no timeout): an empty lock (valid() == false) past it.
  /// `while_held`, unless empty, is called when it turns out to be held and
  /// every `notice_every` while it stays so, for a caller that must say it
  /// still waits (crt under a unit).
  static FileLock acquire_within(const std::filesystem::path& path, Mode mode, std::chrono::milliseconds most,
                                 const std::function<void()>& while_held = {},
                                 std::chrono::milliseconds notice_every = std::chrono::seconds(10));
  /// Returns an empty lock (valid() == false) if someone else holds it.
  static FileLock try_acquire(const std::filesystem::path& path, Mode mode);
  /// Locks an already open fd (takes ownership).
  static FileLock try_acquire(UniqueFd fd, Mode mode);
  /// Locks an already open fd (takes ownership), waiting until it is free.
  static FileLock acquire(UniqueFd fd, Mode mode);

  [[nodiscard]] bool valid() const { return fd_.valid(); }
  [[nodiscard]] int fd() const { return fd_.get(); }
  /// True if `path` still names the file this lock is held on: someone who
  /// removes lock files (after taking the lock) may have unlinked it between
  /// our open and our flock.
  [[nodiscard]] bool still_at(const std::filesystem::path& path) const;
  /// Lets the lock fd survive exec, so a child keeps the lock after we die.
  void inherit_on_exec();

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

/// The processes other than this one that have `path` open, as a lock's
/// holder has (also one that inherited it), for messages: "PID 12 (crt),
/// PID 40 (host-local)"; empty when none is found (as when `path` is gone).
/// With `locked_only`, only those whose open file holds a lock on it (not
/// one that opened it a moment to look, as crt status does).
std::string processes_holding(const std::filesystem::path& path, bool locked_only = false);

}  // namespace crt
