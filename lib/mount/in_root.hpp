#pragma once

#include <sys/types.h>

#include <string_view>

#include "common/fd.hpp"

namespace crt::mount {

/// Opens (O_PATH) the directory `path` inside the tree at `root_fd`, creating
/// missing components with `mode`. Every component is resolved inside the
/// tree: a symlink in it can never lead outside.
UniqueFd make_dir_in_root(int root_fd, std::string_view path, mode_t mode = 0755);

/// Opens (O_PATH) the file `path` inside the tree, creating an empty file
/// (and missing parent directories) if it does not exist; where `path` is a
/// dangling symlink, at what it points to inside the tree. Used for file
/// mount points.
UniqueFd make_file_in_root(int root_fd, std::string_view path, mode_t mode = 0644);

/// "/proc/self/fd/N": a path naming exactly the object `fd` refers to.
std::string fd_path(int fd);

}  // namespace crt::mount
