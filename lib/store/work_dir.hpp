#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/fs.hpp"
#include "common/lock.hpp"

namespace crt::store {

/// A work directory in the store's tmp/, `<prefix>.XXXXXX`, locked through
/// `<dir>.lock` while in use so that a later import can tell an abandoned one
/// (a crashed import) from a live one; removed with its lock on destruction.
class WorkDir {
 public:
  WorkDir(const std::filesystem::path& tmp, const std::string& prefix)
      : dir_(tmp / prefix), lock_(FileLock::acquire(dir_.path().string() + ".lock", FileLock::Mode::kExclusive)) {}
  ~WorkDir() { ::unlink((dir_.path().string() + ".lock").c_str()); }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return dir_.path(); }

 private:
  fs::TempDir dir_;
  FileLock lock_;
};

}  // namespace crt::store
