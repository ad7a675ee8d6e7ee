#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace crt::fs {

std::string random_suffix() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937 gen{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof kChars - 2);
  std::string s(6, 'x');
  for (char& c : s) c = kChars[pick(gen)];
  return s;
}

std::string normal_path(const std::string& path) {
  std::string n = stdfs::path(path).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

std::string read_file(const stdfs::path& path, size_t max) {
  return read_fd(open_fd(path, O_RDONLY).get(), quote(path.string()), max);
}

std::string read_fd(int fd, const std::string& name, size_t max) {
  std::string out;
  char buf[65536];
  while (out.size() < max) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, max - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("reading " + name);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void write_all(int fd, std::string_view data, const std::string& what) {
  if (int err = write_all_noexcept(fd, data); err != 0) throw_errno(err, what);
}

int write_all_noexcept(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else if (n == 0) {
      return EIO;  // a device that takes nothing would spin here
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

void write_file_atomic(const stdfs::path& path, std::string_view content, mode_t mode, Durability durability) {
  std::string tmpl = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
  int raw = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (raw < 0) throw_errno("creating a temporary file for " + quote(path.string()));
  UniqueFd fd(raw);
  try {
    if (::fchmod(fd.get(), mode) < 0) throw_errno("setting the mode of " + quote(tmpl));
    write_all(fd.get(), content, "writing " + quote(tmpl));
    if (durability != Durability::kCached && ::fsync(fd.get()) < 0) throw_errno("syncing " + quote(tmpl));
    if (::rename(tmpl.c_str(), path.c_str()) < 0) throw_errno("renaming to " + quote(path.string()));
  } catch (...) {
    ::unlink(tmpl.c_str());
    throw;
  }
  // The rename is the directory's change: until the directory is synced, a
  // crash may bring back the old file (or none) after the new one was used.
  if (durability == Durability::kSynced) sync_dir(path.has_parent_path() ? path.parent_path() : stdfs::path("."));
}

void sync_dir(const stdfs::path& dir) {
  UniqueFd d = open_fd(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(d.get()) < 0) throw_errno("syncing " + quote(dir.string()));
}

void make_dirs(const stdfs::path& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) return;
  if (errno == EEXIST) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    throw Error(quote(path.string()) + " exists and is not a directory");
  }
  if (errno != ENOENT) throw_errno("creating directory " + quote(path.string()));
  if (path.has_parent_path() && path.parent_path() != path) make_dirs(path.parent_path(), 0755);
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST)
    throw_errno("creating directory " + quote(path.string()));
}

std::vector<std::string> list_names(int fd, const std::string& shown) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw_errno("listing " + quote(shown));
  DIR* d = ::fdopendir(copy);
  if (d == nullptr) {
    ::close(copy);
    throw_errno("listing " + quote(shown));
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  return names;
}

namespace {

/// Removes `name` in `dir_fd` and everything below it, on device `dev`
/// alone. Two descriptors at most, however deep the tree (one each level
/// would run out where a tree is deeper than the open-file limit): it goes
/// down by name and back up by "..", keeping the names still to do (and
/// each level's inode, to check that ".." is where it came from).
void remove_at(int dir_fd, const std::string& name, dev_t dev, const std::string& shown) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_errno("inspecting " + quote(shown));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT) throw_errno("removing " + quote(shown));
    return;
  }
  struct Level {
    std::string name;                  ///< in the level above
    ino_t ino = 0;                     ///< its inode
    std::vector<std::string> subdirs;  ///< still to remove in it
  };
  std::vector<Level> levels;  // from `name` down to the directory open in `cur`
  std::string path = shown;   // of `cur`, for messages
  UniqueFd cur;
  // False where it has gone meanwhile.
  auto enter = [&](int parent, const std::string& n) {
    struct stat s {};
    int raw = ::openat(parent, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (raw < 0 && errno == ENOENT) return false;
    if (raw < 0) throw_errno("opening " + quote(path));
    cur = UniqueFd(raw);
    if (::fstat(cur.get(), &s) < 0) throw_errno("inspecting " + quote(path));
    if (s.st_dev != dev) throw Error(quote(path) + " is a mount point; refusing to remove it");
    Level l{n, s.st_ino, {}};
    // Its files go now; its directories one by one, each emptied first.
    for (auto& e : list_names(cur.get(), path)) {
      struct stat es {};
      if (::fstatat(cur.get(), e.c_str(), &es, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) continue;
        throw_errno("inspecting " + quote(path + "/" + e));
      }
      if (S_ISDIR(es.st_mode))
        l.subdirs.push_back(std::move(e));
      else if (::unlinkat(cur.get(), e.c_str(), 0) < 0 && errno != ENOENT)
        throw_errno("removing " + quote(path + "/" + e));
    }
    levels.push_back(std::move(l));
    return true;
  };
  if (!enter(dir_fd, name)) return;
  while (!levels.empty()) {
    Level& l = levels.back();
    if (!l.subdirs.empty()) {
      std::string sub = std::move(l.subdirs.back());
      l.subdirs.pop_back();
      path += "/" + sub;
      if (!enter(cur.get(), sub)) path.resize(path.size() - sub.size() - 1);
      continue;
    }
    // Empty: up, and removed there.
    std::string done = std::move(l.name);
    levels.pop_back();
    int up = dir_fd;
    UniqueFd parent;
    if (!levels.empty()) {
      int raw = ::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (raw < 0) throw_errno("opening the directory above " + quote(path));
      parent = UniqueFd(raw);
      up = parent.get();
      // Moved away meanwhile, its ".." would be another directory.
      struct stat ps {};
      if (::fstat(up, &ps) < 0) throw_errno("inspecting the directory above " + quote(path));
      if (ps.st_dev != dev || ps.st_ino != levels.back().ino)
        throw Error(quote(path) + " was moved while it was being removed");
    }
    if (::unlinkat(up, done.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT) throw_errno("removing " + quote(path));
    cur = std::move(parent);
    path.resize(path.size() - std::min(path.size(), done.size() + 1));
    if (levels.empty()) break;
  }
}

}  // namespace

void remove_tree(const stdfs::path& path) {
  stdfs::path parent = path.parent_path().empty() ? "." : path.parent_path();
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return;  // nor is what it held
  if (fd < 0) throw_errno("opening " + quote(parent.string()));
  UniqueFd dir(fd);
  remove_tree_at(dir.get(), path.filename().string(), path.string());
}

void remove_tree_at(int dir_fd, const std::string& name, const std::string& shown) {
  struct stat dst {};
  if (::fstat(dir_fd, &dst) < 0) throw_errno("inspecting the directory of " + quote(shown));
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_errno("inspecting " + quote(shown));
  }
  if (S_ISDIR(st.st_mode) && st.st_dev != dst.st_dev)
    throw Error(quote(shown) + " is a mount point; refusing to remove it");
  remove_at(dir_fd, name, dst.st_dev, shown);
}

UniqueFd open_fd(const stdfs::path& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("opening " + quote(path.string()));
  return UniqueFd(fd);
}

UniqueFd open_unnamed(const stdfs::path& dir, int flags, mode_t mode, const std::string& what) {
  int fd = ::open(dir.c_str(), flags | O_TMPFILE | O_CLOEXEC, mode);
  // EOPNOTSUPP: the file system has no O_TMPFILE; EISDIR, EINVAL: the kernel.
  if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) throw_errno(what);
  return UniqueFd(fd);
}

int openat2(int dir_fd, const char* path, const struct open_how& how) {
  // A race clears within a retry or two; the bound only keeps a machine that
  // renames without pause from holding us forever.
  constexpr int kTries = 1000;
  long fd = -1;
  for (int i = 0; i < kTries; ++i) {
    fd = ::syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return static_cast<int>(fd);
}

int open_beneath(int dir_fd, const char* path, int flags) {
  struct open_how how {};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return openat2(dir_fd, path, how);
}

UniqueFd open_in_root(int root_fd, std::string_view path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string p(path);
  int fd = openat2(root_fd, p.c_str(), how);
  if (fd < 0) throw_errno("opening " + quote(p) + " inside the root");
  return UniqueFd(fd);
}

TempDir::TempDir(const stdfs::path& prefix) {
  std::string tmpl = prefix.string() + ".XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw_errno("creating a directory beside " + quote(prefix.string()));
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  try {
    remove_tree(path_);
  } catch (...) {
  }
}

stdfs::path TempDir::release() { return std::exchange(path_, {}); }

std::string file_kind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "";
    case S_IFDIR:
      return "a directory";
    case S_IFLNK:
      return "a symbolic link";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

bool check_replaceable(const stdfs::path& path, std::string_view replacer) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return false;  // a missing directory is said when the file is made
    throw_errno(quote(path.string()));
  }
  if (std::string kind = file_kind(st.st_mode); !kind.empty())
    throw Error(quote(path.string()) + " is " + kind + ": " + std::string(replacer) + " replaces only a regular file" +
                (S_ISDIR(st.st_mode) ? " (give the file to write in it)" : ""));
  return true;
}

}  // namespace crt::fs
