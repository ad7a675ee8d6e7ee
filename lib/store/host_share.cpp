#include "store/host_share.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

namespace {

/// The host's file at `rel` (resolved as inside `root_fd`) when it is a
/// regular file on file system `dev`, opened for reading; else none. Checked
/// before it is opened for reading: opening a device node can have effects.
UniqueFd open_host_file(int root_fd, const std::string& rel, dev_t dev, struct stat& st) {
  UniqueFd path;
  try {
    path = fs::open_in_root(root_fd, rel, O_PATH);
  } catch (const SystemError&) {
    return UniqueFd();  // not on the host: nothing to share
  }
  if (::fstat(path.get(), &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != dev) return UniqueFd();
  std::string proc = "/proc/self/fd/" + std::to_string(path.get());
  return UniqueFd(::open(proc.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC));
}

bool has_xattrs(int fd) {
  ssize_t n = ::flistxattr(fd, nullptr, 0);
  return n != 0 && !(n < 0 && errno == ENOTSUP);
}

bool read_exactly(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool same_bytes(int a, int b, uint64_t size) {
  static constexpr size_t kChunk = 1 << 16;
  std::string x(kChunk, '\0'), y(kChunk, '\0');
  for (uint64_t left = size; left > 0;) {
    size_t n = left < kChunk ? static_cast<size_t>(left) : kChunk;
    if (!read_exactly(a, x.data(), n) || !read_exactly(b, y.data(), n)) return false;
    if (std::memcmp(x.data(), y.data(), n) != 0) return false;
    left -= n;
  }
  return true;
}

/// Whether the host's file may stand in for the tree's: everything a layer's
/// tar records of it is the same (so the tree still archives to its diff_id).
bool interchangeable(int tree_fd, const struct stat& t, int host_fd, const struct stat& h) {
  if (h.st_ino == t.st_ino || h.st_mode != t.st_mode || h.st_uid != t.st_uid || h.st_gid != t.st_gid ||
      h.st_size != t.st_size || h.st_mtim.tv_sec != t.st_mtim.tv_sec || h.st_mtim.tv_nsec != t.st_mtim.tv_nsec)
    return false;
  if (has_xattrs(tree_fd) || has_xattrs(host_fd)) return false;
  return same_bytes(tree_fd, host_fd, static_cast<uint64_t>(t.st_size));
}

/// Links the open `host_fd` as `name` in `dir_fd`, over the tree's file.
bool link_over(int host_fd, int dir_fd, const std::string& name, const std::string& rel) {
  std::string tmp = "." + name + ".crt-host";
  if (::linkat(host_fd, "", dir_fd, tmp.c_str(), AT_EMPTY_PATH) < 0) {
    // Without CAP_DAC_READ_SEARCH, AT_EMPTY_PATH is refused: link by name.
    std::string proc = "/proc/self/fd/" + std::to_string(host_fd);
    if (::linkat(AT_FDCWD, proc.c_str(), dir_fd, tmp.c_str(), AT_SYMLINK_FOLLOW) < 0) return false;
  }
  if (::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) {
    int err = errno;
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    throw_errno(err, "replacing " + quote(rel) + " with a link to the host's file");
  }
  return true;
}

/// Only what packages install, and nothing that changes privileges.
bool may_share(const std::string& rel, const struct stat& t) {
  return rel.rfind("usr/", 0) == 0 && (t.st_mode & (S_ISUID | S_ISGID)) == 0 && t.st_size > 0 && t.st_nlink == 1;
}

}  // namespace

SharedFiles share_host_files(const stdfs::path& tree, const stdfs::path& host_root) {
  UniqueFd root = fs::open_fd(host_root, O_PATH | O_DIRECTORY);
  SharedFiles shared;
  std::set<std::pair<dev_t, ino_t>> linked;  // a host file stands in once: no hard links within the tree
  std::map<stdfs::path, struct stat> dirs;   // directories changed, with their times before
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(tree, ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->symlink_status().type() != stdfs::file_type::regular) continue;
    const stdfs::path& path = it->path();
    std::string rel = path.lexically_relative(tree).string();
    UniqueFd file = fs::open_fd(path, O_RDONLY | O_NOFOLLOW);
    struct stat t {};
    if (::fstat(file.get(), &t) < 0) throw_errno("reading " + quote(rel));
    if (!may_share(rel, t)) continue;
    struct stat h {};
    UniqueFd host = open_host_file(root.get(), rel, t.st_dev, h);
    if (!host || linked.count({h.st_dev, h.st_ino}) || !interchangeable(file.get(), t, host.get(), h)) continue;
    stdfs::path parent = path.parent_path();
    if (!dirs.count(parent)) {
      struct stat d {};
      if (::lstat(parent.c_str(), &d) < 0) throw_errno("reading " + quote(parent.string()));
      dirs[parent] = d;
    }
    UniqueFd dir = fs::open_fd(parent, O_PATH | O_DIRECTORY);
    if (!link_over(host.get(), dir.get(), path.filename().string(), rel)) continue;
    linked.insert({h.st_dev, h.st_ino});
    ++shared.files;
    shared.bytes += static_cast<uint64_t>(t.st_size);
  }
  if (ec) throw_errno(ec.value(), "reading the tree " + quote(tree.string()));
  // Linking changed the directories' times; the tree keeps the layer's.
  for (const auto& [dir, st] : dirs) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(AT_FDCWD, dir.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno("restoring the times of " + quote(dir.string()));
  }
  return shared;
}

}  // namespace crt::store
