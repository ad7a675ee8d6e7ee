#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace crt::mount {

/// Bind-mounts `source` on `target` (recursively when `recursive`).
void bind_mount(const std::filesystem::path& source, const std::filesystem::path& target, bool recursive = false);

/// Mounts a small tmpfs (nosuid, nodev, noexec; mode 0755) on `target`.
void mount_tmpfs(const std::filesystem::path& target);

/// Detaches this process from the host's mount propagation: a new mount
/// namespace whose mounts never reach the host, and disappear with it.
void enter_private_mount_namespace();

/// The mount namespace this process was in before it entered a private one
/// (an O_CLOEXEC fd), or -1 if it never left it: mounts that other processes
/// must see, such as a pod's network namespace, are made there.
int original_mount_namespace();

/// Mounts of this mount namespace at or below `dir`, deepest first.
std::vector<std::string> mounts_below(const std::filesystem::path& dir);

}  // namespace crt::mount
