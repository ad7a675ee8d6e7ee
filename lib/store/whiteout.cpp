#include "store/whiteout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace crt::store {

namespace {

constexpr std::string_view kPrefix = ".wh.";
constexpr std::string_view kMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

}  // namespace

UniqueFd open_layer_dir(int parent_fd, const std::string& name, const std::string& path, bool* made) {
  if (made != nullptr) *made = false;
  UniqueFd fd(fs::open_beneath(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY));
  bool replaces_whiteout = false;
  if (!fd && errno == ENOTDIR) {
    struct stat st {};
    replaces_whiteout = ::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && is_overlay_whiteout(st);
    if (replaces_whiteout && ::unlinkat(parent_fd, name.c_str(), 0) < 0)
      throw_errno("replacing the whiteout " + quote(path) + " with a directory");
    errno = replaces_whiteout ? ENOENT : ENOTDIR;
  }
  if (!fd && errno == ENOENT) {
    if (::mkdirat(parent_fd, name.c_str(), 0755) == 0) {
      if (made != nullptr) *made = !replaces_whiteout;
    } else if (errno != EEXIST) {
      throw_errno("creating " + quote(path));
    }
    fd = UniqueFd(fs::open_beneath(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY));
  }
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
      throw Error(quote(path) + " is not a directory of the layer (a symlink or a file is in the way)");
    throw_errno("opening " + quote(path));
  }
  if (replaces_whiteout) set_overlay_opaque(fd.get(), path);
  return fd;
}

WhiteoutKind classify_whiteout(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::string_view dir = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  WhiteoutKind k;
  for (size_t pos = 0; pos < dir.size();) {
    size_t end = std::min(dir.find('/', pos), dir.size());
    if (dir.substr(pos, kMetaPrefix.size()) == kMetaPrefix) {
      k.type = WhiteoutKind::Type::kReserved;
      k.dir = std::string(dir);
      k.aufs = std::string(dir.substr(0, end));
      return k;
    }
    pos = end + 1;
  }
  if (base.substr(0, kPrefix.size()) != kPrefix) return k;
  k.dir = std::string(dir);
  if (base == kOpaque) {
    k.type = WhiteoutKind::Type::kOpaque;
  } else if (base.substr(0, kMetaPrefix.size()) == kMetaPrefix) {
    k.type = WhiteoutKind::Type::kReserved;
    k.aufs = std::string(path);
  } else {
    k.type = WhiteoutKind::Type::kWhiteout;
    k.name = std::string(base.substr(kPrefix.size()));
    if (k.name.empty() || k.name == "." || k.name == "..")
      throw Error("the whiteout " + quote(path) + " names no file");
  }
  return k;
}

void make_overlay_whiteout(int dir_fd, const std::string& dir, const std::string& name) {
  std::string shown = dir.empty() ? name : dir + "/" + name;
  if (::mknodat(dir_fd, name.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0) return;
  if (errno != EEXIST) throw_errno("creating the whiteout " + quote(shown));
  // An entry of that name in this same layer stays: a whiteout only hides
  // what the lower layers have. A file hides it already; a directory would
  // merge with theirs, so it becomes opaque.
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("inspecting " + quote(shown));
  if (!S_ISDIR(st.st_mode)) return;
  UniqueFd sub(fs::open_beneath(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY));
  if (!sub) throw_errno("opening " + quote(shown));
  set_overlay_opaque(sub.get(), shown);
}

void set_overlay_opaque(int dir_fd, const std::string& dir) {
  if (::fsetxattr(dir_fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
    throw_errno("marking " + quote(dir.empty() ? "/" : dir) + " opaque");
}

bool is_overlay_xattr(std::string_view name) { return name.substr(0, 16) == "trusted.overlay."; }

bool has_whiteout_prefix(std::string_view name) { return name.substr(0, kPrefix.size()) == kPrefix; }

bool is_overlay_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == 0; }

namespace {

bool is_opaque_fd(int dir_fd) {
  char v = 0;
  return ::fgetxattr(dir_fd, "trusted.overlay.opaque", &v, 1) == 1 && v == 'y';
}

}  // namespace

bool hides_lower(int root_fd, const std::string& path) {
  UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur) throw_errno("duplicating a file descriptor");
  for (size_t pos = 0;;) {
    if (is_opaque_fd(cur.get())) return true;
    size_t end = path.find('/', pos);
    if (end == std::string::npos) return false;
    cur = UniqueFd(fs::open_beneath(cur.get(), path.substr(pos, end - pos).c_str(), O_RDONLY | O_DIRECTORY));
    if (!cur) throw_errno("opening " + quote(path.substr(0, end)));
    pos = end + 1;
  }
}

std::optional<struct stat> merged_dir_stat(const std::vector<int>& trees, const std::string& path) {
  for (int root : trees) {
    UniqueFd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
    if (!cur) return std::nullopt;
    // An opaque directory on the way hides the path in every lower tree.
    bool hides_below = is_opaque_fd(cur.get());
    bool found = true;
    for (size_t pos = 0; pos < path.size();) {
      size_t end = std::min(path.find('/', pos), path.size());
      std::string comp = path.substr(pos, end - pos);
      pos = end + 1;
      struct stat st {};
      if (::fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        found = false;
        break;
      }
      // A whiteout, a file or a symlink: the merged view has no directory
      // here whatever lies below.
      if (!S_ISDIR(st.st_mode)) return std::nullopt;
      if (end == path.size()) return st;
      cur = UniqueFd(fs::open_beneath(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY));
      if (!cur) return std::nullopt;
      hides_below = hides_below || is_opaque_fd(cur.get());
    }
    if (found || hides_below) return std::nullopt;
  }
  return std::nullopt;
}

bool is_overlay_opaque(const std::filesystem::path& dir) {
  char v = 0;
  return ::lgetxattr(dir.c_str(), "trusted.overlay.opaque", &v, 1) == 1 && v == 'y';
}

}  // namespace crt::store
