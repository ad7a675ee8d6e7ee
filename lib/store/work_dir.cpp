#include "store/work_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/store.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

WorkDir::WorkDir(const stdfs::path& tmp, const std::string& prefix) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    stdfs::path dir = tmp / (prefix + "." + fs::random_suffix());
    std::string lockfile = dir.string() + ".lock";
    // The lock file is ours alone (O_EXCL) and locked before the directory
    // exists: remove_abandoned_work() only removes directories whose lock
    // it can take.
    int raw = ::open(lockfile.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (raw < 0 && errno == EEXIST) continue;
    if (raw < 0) throw_errno("creating " + quote(lockfile));
    FileLock lock = FileLock::try_acquire(UniqueFd(raw), FileLock::Mode::kExclusive);
    // Not ours after all, or taken for an abandoned lock file and removed
    // (remove_abandoned_work) between our open and our flock.
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

Removed remove_abandoned_work(const stdfs::path& tmp) {
  Removed r;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(tmp, ec)) {
    std::string ext = de.path().extension();
    // Partial blobs are kept for resuming (gc removes them).
    if (ext == ".partial") continue;
    if (ext == ".lock") {
      // A lock file without its directory: a work directory's creator or
      // remover was killed between the two. WorkDir checks, once it holds
      // the lock, that the file is still there, so removing it is safe.
      stdfs::path dir = de.path();
      dir.replace_extension();
      std::error_code absent;
      if (stdfs::exists(dir, absent) || absent) continue;
      FileLock l = FileLock::try_acquire(de.path(), FileLock::Mode::kExclusive);
      if (l.valid() && l.still_at(de.path()) && !stdfs::exists(dir, absent) && !absent) ::unlink(de.path().c_str());
      continue;
    }
    stdfs::path lockfile = de.path().string() + ".lock";
    FileLock l = FileLock::try_acquire(lockfile, FileLock::Mode::kExclusive);
    if (!l.valid()) continue;  // in use
    uint64_t bytes = tree_usage(de.path()).disk;
    // What cannot be removed (a mount point someone made in it) must not
    // fail the import that cleans up: crt image gc reports it.
    try {
      fs::remove_tree(de.path());
    } catch (const Error& e) {
      r.failed.emplace_back(e.what());
      continue;
    }
    ::unlink(lockfile.c_str());
    ++r.count;
    r.bytes += bytes;
  }
  return r;
}

Removed remove_detached(std::vector<std::unique_ptr<WorkDir>> trees) {
  Removed r;
  for (auto& t : trees) {
    uint64_t bytes = tree_usage(t->path()).disk;
    try {
      fs::remove_tree(t->path());
      ++r.count;
      r.bytes += bytes;
    } catch (const Error& e) {
      r.failed.emplace_back(e.what());
    }
    t.reset();  // its lock goes: a tree left is abandoned work
  }
  return r;
}

}  // namespace crt::store
