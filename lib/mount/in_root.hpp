#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace crt::mount {

/// Opens (O_PATH) the directory `path` inside the tree at `root_fd`, creating
/// missing components with `mode`; where a component is a dangling symlink,
/// what it points to. Every component is resolved inside the tree: a
/// symlink in it can never lead outside.
UniqueFd make_dir_in_root(int root_fd, std::string_view path, mode_t mode = 0755);

/// Opens (O_PATH) the file `path` inside the tree, creating an empty file
/// (and missing parent directories) if it does not exist; where `path` is a
/// dangling symlink, at what it points to inside the tree. Used for file
/// mount points.
UniqueFd make_file_in_root(int root_fd, std::string_view path, mode_t mode = 0644);

/// A symbolic link in a tree, and what it holds.
struct Link {
  std::string path;  ///< "/run": where it is in the tree
  std::string target;
};

/// The symbolic link on the way to `path` in the tree at `root_fd` whose
/// target climbs above the tree's top ("/run -> ../../tmp"), if there is
/// one. Inside the tree ".." stops at the top, as in a chroot; but the
/// pod's systemd follows such a link from the rootfs's place in stage1,
/// where it leads out of the rootfs. A link to an absolute path is fine
/// (systemd follows it inside the root). Where a component is missing, or
/// links loop, nothing further is looked at.
std::optional<Link> link_climbing_above_top(int root_fd, std::string_view path);

/// "/proc/self/fd/N": a path naming exactly the object `fd` refers to.
std::string fd_path(int fd);

/// Where directory `dir` is in the tree at `root_fd`: "/" or "/a/b", with
/// no symlink or ".." in it (the kernel's own path of the directory).
std::string place_in_tree(int root_fd, int dir);

struct BindFlags {
  bool recursive = false;
  bool read_only = false;
  /// Mounts made later on or under the copy stay out of the source's peer
  /// group (prepare-app's binds of stage1's own /proc, /run/systemd/…:
  /// stage1 is all shared, and an image's symlink could otherwise steer a
  /// later mount onto stage1's path and every other app's).
  bool slave = false;
  /// Neither receives nor passes on mounts (a host volume: what the host
  /// mounts under its source later stays out of the app, as with Docker's
  /// default rprivate; a read-only volume would otherwise gain writable
  /// mounts).
  bool isolated = false;
};

/// Bind-mounts `source` on the object `where_fd` refers to (an O_PATH fd
/// from make_dir_in_root or make_file_in_root), in one step: the copy is
/// made detached, given its attributes there, and then attached, so no path
/// in the tree is looked up again once it is mounted. `shown` names the
/// target in errors.
void bind_onto(const std::string& source, int where_fd, const BindFlags& flags, std::string_view shown);

}  // namespace crt::mount
