#include "store/work_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

namespace {

std::string random_suffix() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937 gen{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof kChars - 2);
  std::string s(6, 'x');
  for (char& c : s) c = kChars[pick(gen)];
  return s;
}

}  // namespace

WorkDir::WorkDir(const stdfs::path& tmp, const std::string& prefix) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    stdfs::path dir = tmp / (prefix + "." + random_suffix());
    std::string lockfile = dir.string() + ".lock";
    // The lock file is ours alone (O_EXCL) and locked before the directory
    // exists: Store::remove_stale_tmp() only removes directories whose lock
    // it can take.
    int raw = ::open(lockfile.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (raw < 0 && errno == EEXIST) continue;
    if (raw < 0) throw_errno("creating " + quote(lockfile));
    FileLock lock = FileLock::try_acquire(UniqueFd(raw), FileLock::Mode::kExclusive);
    // Not ours after all, or taken for an abandoned lock file and removed
    // (Store::remove_stale_tmp) between our open and our flock.
    if (!lock.valid() || !lock.still_at(lockfile)) continue;
    if (::mkdir(dir.c_str(), 0700) < 0) {
      int err = errno;
      ::unlink(lockfile.c_str());
      if (err == EEXIST) continue;  // an abandoned directory of that name
      errno = err;
      throw_errno("creating " + quote(dir.string()));
    }
    path_ = std::move(dir);
    lock_ = std::move(lock);
    return;
  }
  throw Error("no free work directory name in " + quote(tmp.string()));
}

WorkDir::~WorkDir() {
  // The directory goes first, while it is still locked, then its lock file.
  try {
    fs::remove_tree(path_);
  } catch (...) {
  }
  ::unlink((path_.string() + ".lock").c_str());
}

}  // namespace crt::store
