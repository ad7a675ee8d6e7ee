#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/lock.hpp"

namespace crt::store {

/// A work directory in the store's tmp/, `<prefix>.XXXXXX`, locked through
/// `<dir>.lock` while in use so that remove_abandoned_work() can tell an
/// abandoned one (a crashed import) from a live one. The lock is held before
/// the directory exists and until after it is gone, so no one ever sees the
/// directory unlocked while it is in use.
class WorkDir {
 public:
  WorkDir(const std::filesystem::path& tmp, const std::string& prefix);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  FileLock lock_;
};

/// What remove_abandoned_work() and remove_detached() removed.
struct Removed {
  size_t count = 0;
  uint64_t bytes = 0;  ///< of disk
  /// What could not be removed, each with why (a mount point made in it).
  std::vector<std::string> failed;
};

/// Removes what killed crt processes left in the store's tmp/: work
/// directories nobody holds, lock files without their directory, and trees
/// whose removal was cut short (Store::detach_tree()). A work directory in
/// use (another crt's import, or its removal of a tree) stays; so do partial
/// blobs, for a pull to resume.
Removed remove_abandoned_work(const std::filesystem::path& tmp);

/// Removes layer trees Store::detach_tree() moved out; one that cannot be
/// removed is left to remove_abandoned_work().
Removed remove_detached(std::vector<std::unique_ptr<WorkDir>> trees);

}  // namespace crt::store
