#include "mount/in_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::mount {

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

UniqueFd make_file_in_root(int root_fd, std::string_view path, mode_t mode) {
  try {
    return fs::open_in_root(root_fd, path, O_PATH);
  } catch (const SystemError& e) {
    if (e.code() != ENOENT) throw;
  }
  auto [parent, name] = split_last(path);
  make_dir_in_root(root_fd, parent);
  // O_CREAT through RESOLVE_IN_ROOT: a dangling symlink at `path` is followed
  // inside the tree, never to the host.
  fs::open_in_root(root_fd, path, O_WRONLY | O_CREAT | O_NOCTTY, mode).reset();
  return fs::open_in_root(root_fd, path, O_PATH);
}

}  // namespace crt::mount
