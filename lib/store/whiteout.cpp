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

/// How the path of a level is in one lower tree.
struct MergedDirs::InTree {
  enum class Kind { kDir, kMissing, kNotDir };
  Kind kind = Kind::kMissing;
  /// An opaque directory from the tree's root down to here (inclusive):
  /// a path missing below it is missing in every lower tree too.
  bool hides = false;
  struct stat st {};  ///< kDir
  UniqueFd fd;        ///< kDir, while the level keeps its descriptors
};

struct MergedDirs::Level {
  std::string path;
  /// The upper tree's directory here, or one above, is opaque: nothing of
  /// the lower trees shows below it.
  bool upper_hides = false;
  struct stat upper_st {};
  UniqueFd upper;
  std::vector<InTree> trees;
};

namespace {

/// Levels deeper than this below the deepest keep no descriptors: a tree
/// deeper than the open-file limit would run out of them.
constexpr size_t kMergedOpenLevels = 32;

UniqueFd dup_dir_fd(int fd) {
  UniqueFd d(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!d) throw_errno("duplicating a file descriptor");
  return d;
}

/// The directory above the one open as `fd`, which must be the one of
/// `st` (it was opened beneath it: a tree moved meanwhile is an error).
UniqueFd open_parent(int fd, const struct stat& st, const std::string& path) {
  UniqueFd up(::openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat now {};
  if (!up || ::fstat(up.get(), &now) < 0) throw_errno("opening " + quote(path.empty() ? "/" : path) + " again");
  if (now.st_dev != st.st_dev || now.st_ino != st.st_ino)
    throw Error(quote(path.empty() ? "/" : path) + " was moved while the layer was written");
  return up;
}

}  // namespace

MergedDirs::MergedDirs(int upper, const std::vector<int>& lowers) {
  Level root;
  root.upper = dup_dir_fd(upper);
  if (::fstat(root.upper.get(), &root.upper_st) < 0) throw_errno("inspecting the tree being written");
  root.upper_hides = is_opaque_fd(root.upper.get());
  for (int l : lowers) {
    InTree t;
    t.fd = dup_dir_fd(l);
    if (::fstat(t.fd.get(), &t.st) == 0) {
      t.kind = InTree::Kind::kDir;
      t.hides = is_opaque_fd(t.fd.get());
    } else {
      t.fd.reset();
    }
    root.trees.push_back(std::move(t));
  }
  levels_.push_back(std::move(root));
}

MergedDirs::~MergedDirs() = default;

void MergedDirs::push(const std::string& name) {
  Level& parent = levels_.back();
  Level l;
  l.path = parent.path.empty() ? name : parent.path + "/" + name;
  ++lookups_;
  l.upper = UniqueFd(fs::open_beneath(parent.upper.get(), name.c_str(), O_RDONLY | O_DIRECTORY));
  if (!l.upper || ::fstat(l.upper.get(), &l.upper_st) < 0) throw_errno("opening " + quote(l.path));
  l.upper_hides = parent.upper_hides || is_opaque_fd(l.upper.get());
  for (auto& pt : parent.trees) {
    InTree t;
    t.hides = pt.hides;
    t.kind = pt.kind;
    if (pt.kind == InTree::Kind::kDir) {
      ++lookups_;
      if (::fstatat(pt.fd.get(), name.c_str(), &t.st, AT_SYMLINK_NOFOLLOW) < 0) {
        t.kind = InTree::Kind::kMissing;
      } else if (!S_ISDIR(t.st.st_mode)) {
        // A whiteout, a file or a symlink: the merged view has no directory
        // here, nor below, whatever lies in lower trees.
        t.kind = InTree::Kind::kNotDir;
      } else {
        t.fd = UniqueFd(fs::open_beneath(pt.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY));
        if (!t.fd)
          t.kind = InTree::Kind::kNotDir;  // unreadable: as merged_dir_stat took it
        else
          t.hides = t.hides || is_opaque_fd(t.fd.get());
      }
    }
    l.trees.push_back(std::move(t));
  }
  levels_.push_back(std::move(l));
  // The root's descriptors stay: every walk starts there.
  if (levels_.size() > kMergedOpenLevels + 1) {
    Level& old = levels_[levels_.size() - 1 - kMergedOpenLevels];
    old.upper.reset();
    for (auto& t : old.trees) t.fd.reset();
  }
}

void MergedDirs::pop() {
  Level done = std::move(levels_.back());
  levels_.pop_back();
  Level& up = levels_.back();
  if (up.upper) return;
  up.upper = open_parent(done.upper.get(), up.upper_st, up.path);
  for (size_t i = 0; i < up.trees.size(); ++i) {
    InTree& t = up.trees[i];
    if (t.kind != InTree::Kind::kDir) continue;
    if (done.trees[i].fd) {
      t.fd = open_parent(done.trees[i].fd.get(), t.st, up.path);
      continue;
    }
    // The level below is not in this tree: down again from the deepest
    // level above that kept its descriptor (the root always does).
    size_t from = levels_.size() - 1;
    while (!levels_[from].trees[i].fd) --from;
    UniqueFd fd = dup_dir_fd(levels_[from].trees[i].fd.get());
    size_t pos = levels_[from].path.empty() ? 0 : levels_[from].path.size() + 1;
    while (pos < up.path.size()) {
      size_t end = std::min(up.path.find('/', pos), up.path.size());
      ++lookups_;
      fd = UniqueFd(fs::open_beneath(fd.get(), up.path.substr(pos, end - pos).c_str(), O_RDONLY | O_DIRECTORY));
      if (!fd) throw_errno("opening " + quote(up.path) + " again");
      pos = end + 1;
    }
    struct stat now {};
    if (::fstat(fd.get(), &now) < 0 || now.st_dev != t.st.st_dev || now.st_ino != t.st.st_ino)
      throw Error(quote(up.path) + " was moved while the layer was written");
    t.fd = std::move(fd);
  }
}

std::optional<struct stat> MergedDirs::below(const std::string& path) {
  auto holds = [&path](const std::string& dir) {
    return dir.empty() || path == dir || (path.starts_with(dir) && path[dir.size()] == '/');
  };
  while (!holds(levels_.back().path)) pop();
  for (size_t pos = levels_.back().path.empty() ? 0 : levels_.back().path.size() + 1; pos < path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    push(path.substr(pos, end - pos));
    pos = end + 1;
  }
  if (levels_.size() < 2 || levels_[levels_.size() - 2].upper_hides) return std::nullopt;
  for (const auto& t : levels_.back().trees) {
    if (t.kind == InTree::Kind::kDir) return t.st;
    // Missing here: lower trees show through, unless an opaque directory
    // of this tree above it hides them.
    if (t.kind == InTree::Kind::kNotDir || t.hides) return std::nullopt;
  }
  return std::nullopt;
}

std::optional<LowerFile> find_lower_file(int upper, const std::vector<int>& lowers, const std::string& path) {
  size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  // Walks `parent` from the tree `root`: its directory, or none where it
  // is missing (`missing`) or is no directory; `hides`: an opaque
  // directory on the way.
  auto walk = [&parent](int root, bool& hides, bool& missing) {
    UniqueFd cur = dup_dir_fd(root);
    hides = is_opaque_fd(cur.get());
    missing = false;
    for (size_t pos = 0; pos < parent.size();) {
      size_t end = std::min(parent.find('/', pos), parent.size());
      std::string comp = parent.substr(pos, end - pos);
      pos = end + 1;
      struct stat st {};
      if (::fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        missing = true;
        return UniqueFd();
      }
      if (!S_ISDIR(st.st_mode)) return UniqueFd();
      cur = UniqueFd(fs::open_beneath(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY));
      if (!cur) return UniqueFd();
      hides = hides || is_opaque_fd(cur.get());
    }
    return cur;
  };
  bool hides = false;
  bool missing = false;
  // This layer's own opaque directories hide the layers below.
  UniqueFd in_upper = walk(upper, hides, missing);
  if (hides) return std::nullopt;
  for (int root : lowers) {
    UniqueFd dir = walk(root, hides, missing);
    if (!dir && !missing) return std::nullopt;
    if (dir) {
      struct stat st {};
      if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode) || is_overlay_whiteout(st)) return std::nullopt;
        return LowerFile{std::move(dir), name, st};
      }
    }
    if (hides) return std::nullopt;
  }
  return std::nullopt;
}

bool is_overlay_opaque(const std::filesystem::path& dir) {
  char v = 0;
  return ::lgetxattr(dir.c_str(), "trusted.overlay.opaque", &v, 1) == 1 && v == 'y';
}

}  // namespace crt::store
