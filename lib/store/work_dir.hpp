#pragma once

#include <filesystem>
#include <string>

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

/// Removes what killed crt processes left in the store's tmp/: work
/// directories nobody holds, lock files without their directory, and trees
/// whose removal was cut short (`rm-<hex>`, Store::drop_tree). Partial blobs
/// stay for a pull to resume.
void remove_abandoned_work(const std::filesystem::path& tmp);

}  // namespace crt::store
