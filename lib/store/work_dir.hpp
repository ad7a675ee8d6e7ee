#pragma once

#include <filesystem>
#include <string>

#include "common/lock.hpp"

namespace crt::store {

/// A work directory in the store's tmp/, `<prefix>.XXXXXX`, locked through
/// `<dir>.lock` while in use so that a later import can tell an abandoned one
/// (a crashed import) from a live one. The lock is held before the directory
/// exists and until after it is gone, so no one ever sees the directory
/// unlocked while it is in use.
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

}  // namespace crt::store
