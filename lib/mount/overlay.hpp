#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace crt::mount {

/// The mount data of an overlay: `lowers` lowest first (as layers are stored);
/// ':' ',' and '\\' in paths are escaped.
std::string overlay_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work);

/// How an overlay treats its upper layer's durability.
enum class UpperSync {
  kSynced,    ///< syncs reach the upper filesystem, and unmounting syncs it
  kVolatile,  ///< "volatile": no sync at all, where the kernel has it
};

/// Mounts an overlay on `target`. A volatile overlay leaves a marker in
/// `work` that makes the kernel refuse to mount it again (after a crash its
/// upper layer may be incomplete); clear_volatile_marker removes it.
void mount_overlay(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                   const std::filesystem::path& work, const std::filesystem::path& target,
                   UpperSync sync = UpperSync::kSynced);

/// Removes the marker a volatile mount left in `work`, for an upper layer
/// known to hold nothing that a crash could have cut short.
void clear_volatile_marker(const std::filesystem::path& work);

/// Whether `work` holds the marker of a volatile mount.
bool has_volatile_marker(const std::filesystem::path& work);

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

}  // namespace crt::mount
