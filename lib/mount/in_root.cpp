#include "mount/in_root.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::mount {

namespace stdfs = std::filesystem;

namespace {

/// Splits "a/b/c" into parent "a/b" and name "c" (leading slashes dropped).
std::pair<std::string, std::string> split_last(std::string_view path) {
  std::string p(path);
  while (!p.empty() && p.back() == '/') p.pop_back();
  size_t start = p.find_first_not_of('/');
  p = start == std::string::npos ? "" : p.substr(start);
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return {"", p};
  return {p.substr(0, slash), p.substr(slash + 1)};
}

/// `path`, a path in the tree, as its user sees it: from the top.
std::string shown_path(std::string_view path) {
  return path.starts_with('/') ? std::string(path) : "/" + std::string(path);
}

}  // namespace

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string place_in_tree(int root_fd, int dir) {
  std::error_code ec;
  std::string root = stdfs::read_symlink(fd_path(root_fd), ec).string();
  std::string here = ec ? std::string() : stdfs::read_symlink(fd_path(dir), ec).string();
  if (ec) throw_errno(ec.value(), "finding a directory's place in the tree");
  if (root == "/") root.clear();
  if (here.compare(0, root.size(), root) != 0 || (here.size() > root.size() && here[root.size()] != '/'))
    throw Error(quote(here) + " is outside the tree " + quote(root));
  here = here.substr(root.size());
  return here.empty() ? "/" : here;
}

void bind_onto(const std::string& source, int where_fd, const BindFlags& flags, std::string_view shown) {
  std::string what = "bind-mounting " + quote(source) + " on " + quote(shown);
  unsigned int rec = flags.recursive ? AT_RECURSIVE : 0;
  long fd = ::syscall(SYS_open_tree, AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
  if (fd < 0) throw_errno(what);
  UniqueFd tree(static_cast<int>(fd));
  if (flags.read_only || flags.slave || flags.isolated) {
    mount_attr attr{};
    if (flags.read_only) attr.attr_set = MOUNT_ATTR_RDONLY;
    if (flags.slave) attr.propagation = MS_SLAVE;
    if (flags.isolated) attr.propagation = MS_PRIVATE;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0) throw_errno(what);
  }
  if (::syscall(SYS_move_mount, tree.get(), "", where_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    throw_errno(what);
}

namespace {

/// How many dangling symlinks are followed to make what they point to.
constexpr int kMaxLinks = 8;

UniqueFd make_dir(int root_fd, std::string_view path, mode_t mode, int links_followed);

/// The target of the symlink `name` in directory `dir`; empty if it is no
/// symlink.
std::string read_link(int dir, const std::string& name) {
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(dir, name.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return {};
  return std::string(buf, static_cast<size_t>(n));
}

/// The file a symlink's `target` names, as a path in the tree at `root_fd`
/// whose directories exist (made where missing): resolved as the kernel
/// resolves it in the tree, from directory `dir` (where the link is) or, for
/// an absolute target, from the top. A symlink on the way is followed
/// before a ".." after it; ".." at the top stays there.
std::string resolve_link_target(int root_fd, int dir, const std::string& target, int links_followed) {
  auto [parent, name] = split_last(target);
  std::string here = target[0] == '/' ? "/" : place_in_tree(root_fd, dir);
  auto join = [](const std::string& a, const std::string& b) { return a == "/" ? "/" + b : a + "/" + b; };
  std::string_view rest = parent;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string c(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      // `here` has no symlinks: its parent is lexical.
      here = stdfs::path(here).parent_path().string();
      continue;
    }
    UniqueFd d = make_dir(root_fd, join(here, c), 0755, links_followed);
    here = place_in_tree(root_fd, d.get());
  }
  if (name.empty() || name == ".") return here;
  if (name == "..") return stdfs::path(here).parent_path().string();
  return join(here, name);
}

UniqueFd make_dir(int root_fd, std::string_view path, mode_t mode, int links_followed) {
  auto [parent, name] = split_last(path);
  if (name.empty()) return fs::open_in_root(root_fd, ".", O_PATH | O_DIRECTORY);
  // "a/." is "a" (not the top: a mount there would cover the whole tree).
  if (name == ".") return make_dir(root_fd, parent, mode, links_followed);
  if (name == "..") throw Error("refusing '..' in " + quote(path));
  UniqueFd parent_fd = make_dir(root_fd, parent, mode, links_followed);
  if (::mkdirat(parent_fd.get(), name.c_str(), mode) < 0 && errno != EEXIST)
    throw_errno("creating directory " + quote(path));
  try {
    return fs::open_in_root(root_fd, std::string(path), O_PATH | O_DIRECTORY);
  } catch (const SystemError& e) {
    if (e.code() == ENOTDIR) throw Error(quote(shown_path(path)) + " exists and is not a directory");
    // A dangling symlink (an image's /data pointing to /srv/data, say):
    // the directory it points to is made, as for a file (make_file).
    std::string link = e.code() == ENOENT ? read_link(parent_fd.get(), name) : std::string();
    if (link.empty() || links_followed >= kMaxLinks) throw;
    make_dir(root_fd, resolve_link_target(root_fd, parent_fd.get(), link, links_followed + 1), mode,
             links_followed + 1);
    return fs::open_in_root(root_fd, std::string(path), O_PATH | O_DIRECTORY);
  }
}

UniqueFd make_file(int root_fd, std::string_view path, mode_t mode, int links_followed) {
  try {
    return fs::open_in_root(root_fd, path, O_PATH);
  } catch (const SystemError& e) {
    if (e.code() != ENOENT) throw;
  }
  auto [parent, name] = split_last(path);
  UniqueFd dir = make_dir_in_root(root_fd, parent);
  // A dangling symlink at `path` (an image's /etc/resolv.conf pointing to
  // ../run/systemd/resolve/stub-resolv.conf, say): what it points to is
  // made, directories and all, inside the tree.
  if (std::string link = read_link(dir.get(), name); !link.empty() && links_followed < kMaxLinks) {
    make_file(root_fd, resolve_link_target(root_fd, dir.get(), link, links_followed + 1), mode, links_followed + 1);
    return fs::open_in_root(root_fd, path, O_PATH);
  }
  // O_EXCL: what another app made there meanwhile (through a volume the
  // pod's apps share), a FIFO or a device say, is not opened, only taken
  // as made; O_CREAT through RESOLVE_IN_ROOT stays inside the tree.
  try {
    fs::open_in_root(root_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_NONBLOCK, mode).reset();
  } catch (const SystemError& e) {
    if (e.code() != EEXIST) throw;
  }
  return fs::open_in_root(root_fd, path, O_PATH);
}

}  // namespace

std::optional<Link> link_climbing_above_top(int root_fd, std::string_view path) {
  constexpr int kMaxFollowed = 40;  // the kernel's bound
  // The components still to walk, each with the link it came from (none:
  // the path itself).
  std::deque<std::pair<std::string, std::optional<Link>>> todo;
  auto push_front_all = [&](std::string_view p, const std::optional<Link>& from) {
    std::vector<std::string> parts;
    for (size_t at = 0; at <= p.size();) {
      size_t slash = std::min(p.find('/', at), p.size());
      if (slash > at) parts.emplace_back(p.substr(at, slash - at));
      at = slash + 1;
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.emplace_front(*it, from);
  };
  push_front_all(path, std::nullopt);
  std::string here;  // where the walk is, relative to the top: "a/b", no links in it
  int followed = 0;
  while (!todo.empty()) {
    auto [name, from] = std::move(todo.front());
    todo.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      if (here.empty()) {
        if (from) return from;
        continue;
      }
      size_t slash = here.rfind('/');
      here = slash == std::string::npos ? "" : here.substr(0, slash);
      continue;
    }
    std::string next = here.empty() ? name : here + "/" + name;
    struct stat st {};
    if (::fstatat(root_fd, next.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return std::nullopt;
    if (!S_ISLNK(st.st_mode)) {
      here = std::move(next);
      continue;
    }
    if (++followed > kMaxFollowed) return std::nullopt;
    std::string target = read_link(root_fd, next);
    if (target.empty()) return std::nullopt;
    if (target[0] == '/') here.clear();
    push_front_all(target, Link{"/" + next, target});
  }
  return std::nullopt;
}

UniqueFd make_dir_in_root(int root_fd, std::string_view path, mode_t mode) { return make_dir(root_fd, path, mode, 0); }

UniqueFd make_file_in_root(int root_fd, std::string_view path, mode_t mode) {
  UniqueFd fd = make_file(root_fd, path, mode, 0);
  // A file mounted there would fail with only "Invalid argument".
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(quote(shown_path(path)) + " exists and is a directory, not a file");
  return fd;
}

}  // namespace crt::mount
