#include "mount/in_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <string>

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

}  // namespace

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

UniqueFd make_dir_in_root(int root_fd, std::string_view path, mode_t mode) {
  auto [parent, name] = split_last(path);
  if (name.empty() || name == ".") return fs::open_in_root(root_fd, ".", O_PATH | O_DIRECTORY);
  if (name == "..") throw Error("refusing '..' in " + quote(path));
  UniqueFd parent_fd = make_dir_in_root(root_fd, parent, mode);
  if (::mkdirat(parent_fd.get(), name.c_str(), mode) < 0 && errno != EEXIST)
    throw_errno("creating directory " + quote(path));
  try {
    return fs::open_in_root(root_fd, std::string(path), O_PATH | O_DIRECTORY);
  } catch (const SystemError& e) {
    if (e.code() == ENOTDIR) throw Error(quote(path) + " exists and is not a directory");
    throw;
  }
}

namespace {

/// Where the symlink `name` in the directory `dir` of the tree at `root_fd`
/// points, as a path inside the tree; empty if it is no symlink.
std::string link_target_in_root(int root_fd, int dir, const std::string& name) {
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(dir, name.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return {};
  std::string link(buf, static_cast<size_t>(n));
  if (link[0] == '/') return stdfs::path(link).lexically_normal().string();
  // A relative target: from the directory's place in the tree (resolved,
  // so ".." in the target is lexical from there; ".." at the top stays
  // there, as the kernel resolves it in the tree).
  std::error_code ec;
  std::string root = stdfs::read_symlink(fd_path(root_fd), ec).string();
  std::string here = ec ? std::string() : stdfs::read_symlink(fd_path(dir), ec).string();
  if (ec) throw_errno(ec.value(), "finding where " + quote(name) + " is in the tree");
  if (here.compare(0, root.size(), root) != 0) return {};
  here = "/" + here.substr(root.size());
  return (stdfs::path(here) / link).lexically_normal().string();
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
  constexpr int kMaxLinks = 8;
  if (std::string target = link_target_in_root(root_fd, dir.get(), name);
      !target.empty() && links_followed < kMaxLinks) {
    make_file(root_fd, target, mode, links_followed + 1);
    return fs::open_in_root(root_fd, path, O_PATH);
  }
  // O_CREAT through RESOLVE_IN_ROOT: a symlink at `path` is followed inside
  // the tree, never to the host.
  fs::open_in_root(root_fd, path, O_WRONLY | O_CREAT | O_NOCTTY, mode).reset();
  return fs::open_in_root(root_fd, path, O_PATH);
}

}  // namespace

UniqueFd make_file_in_root(int root_fd, std::string_view path, mode_t mode) {
  return make_file(root_fd, path, mode, 0);
}

}  // namespace crt::mount
