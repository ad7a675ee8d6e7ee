#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace crt::mount {

/// The mount data of an overlay: `lowers` lowest first (as layers are stored);
/// ':' ',' and '\\' in paths are escaped.
std::string overlay_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work);

/// Mounts an overlay on `target`.
void mount_overlay(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                   const std::filesystem::path& work, const std::filesystem::path& target);

/// Bind-mounts `source` on `target` (recursively when `recursive`).
void bind_mount(const std::filesystem::path& source, const std::filesystem::path& target, bool recursive = false);

/// Detaches this process from the host's mount propagation: a new mount
/// namespace whose mounts never reach the host, and disappear with it.
void enter_private_mount_namespace();

/// The mount namespace this process was in before it entered a private one
/// (an O_CLOEXEC fd), or -1 if it never left it: mounts that other processes
/// must see, such as a pod's network namespace, are made there.
int original_mount_namespace();

}  // namespace crt::mount
