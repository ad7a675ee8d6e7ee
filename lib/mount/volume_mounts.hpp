#pragma once

#include <filesystem>
#include <string>

#include "pod/volumes.hpp"

namespace crt::mount {

/// The host directory behind a volume: a host volume's source; for an empty
/// volume a directory under `volumes_dir` (made on first use: `created` is
/// then set); for a tmpfs volume such a directory with a fresh tmpfs on it.
std::filesystem::path volume_source(const pod::Volume& v, const std::filesystem::path& volumes_dir, bool& created);

/// Fills a just created empty volume with what the app's image has at
/// `path` (resolved inside the rootfs `root_fd`), owners and modes kept.
void copy_into_volume(int root_fd, const std::string& path, const std::filesystem::path& volume_dir);

/// Mounts `source` on `target` inside the app rootfs `root_fd` (created there
/// if missing, every component resolved inside the rootfs, so a symlink in
/// the image never leads to a host path).
void mount_volume(const std::filesystem::path& source, int root_fd, const std::string& target, bool read_only,
                  bool recursive);

}  // namespace crt::mount
