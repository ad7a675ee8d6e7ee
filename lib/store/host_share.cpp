#include "store/host_share.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

namespace {

/// The host's file at `rel`, resolved as inside `root_fd`; none when missing.
UniqueFd open_host_file(int root_fd, const std::string& rel) {
  struct open_how how {};
  // O_NONBLOCK: a FIFO where the tree has a file must not block the open.
  how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
  return UniqueFd(fd < 0 ? -1 : static_cast<int>(fd));
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

/// Whether the host's file may stand in for the tree's.
bool interchangeable(int tree_fd, const struct stat& t, int host_fd, const struct stat& h) {
  if (!S_ISREG(h.st_mode) || h.st_dev != t.st_dev || h.st_ino == t.st_ino) return false;
  if (h.st_mode != t.st_mode || h.st_uid != t.st_uid || h.st_gid != t.st_gid || h.st_size != t.st_size) return false;
  if (has_xattrs(tree_fd) || has_xattrs(host_fd)) return false;
  return same_bytes(tree_fd, host_fd, static_cast<uint64_t>(t.st_size));
}

/// Links the open `host_fd` as `name` in `dir_fd`, over the tree's file.
bool link_over(int host_fd, int dir_fd, const std::string& name, const stdfs::path& path) {
  std::string tmp = "." + name + ".crt-host";
  if (::linkat(host_fd, "", dir_fd, tmp.c_str(), AT_EMPTY_PATH) < 0) {
    // Without CAP_DAC_READ_SEARCH, AT_EMPTY_PATH is refused: link by name.
    std::string proc = "/proc/self/fd/" + std::to_string(host_fd);
    if (::linkat(AT_FDCWD, proc.c_str(), dir_fd, tmp.c_str(), AT_SYMLINK_FOLLOW) < 0) return false;
  }
  if (::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) {
    int err = errno;
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    errno = err;
    throw_errno("replacing " + quote(path.string()) + " with a link to the host's file");
  }
  return true;
}

}  // namespace

SharedFiles share_host_files(const stdfs::path& tree, const stdfs::path& host_root) {
  UniqueFd root = fs::open_fd(host_root, O_PATH | O_DIRECTORY);
  SharedFiles shared;
  for (auto it = stdfs::recursive_directory_iterator(tree); it != stdfs::recursive_directory_iterator(); ++it) {
    if (it->symlink_status().type() != stdfs::file_type::regular) continue;
    const stdfs::path& path = it->path();
    UniqueFd file = fs::open_fd(path, O_RDONLY | O_NOFOLLOW);
    struct stat t {};
    if (::fstat(file.get(), &t) < 0) throw_errno("reading " + quote(path.string()));
    // An empty file saves nothing; one linked within the tree stays so.
    if (t.st_size == 0 || t.st_nlink != 1) continue;
    UniqueFd host = open_host_file(root.get(), path.lexically_relative(tree).string());
    struct stat h {};
    if (!host || ::fstat(host.get(), &h) < 0 || !interchangeable(file.get(), t, host.get(), h)) continue;
    UniqueFd dir = fs::open_fd(path.parent_path(), O_PATH | O_DIRECTORY);
    if (!link_over(host.get(), dir.get(), path.filename().string(), path)) continue;
    ++shared.files;
    shared.bytes += static_cast<uint64_t>(t.st_size);
  }
  return shared;
}

}  // namespace crt::store
