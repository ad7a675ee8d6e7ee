#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace crt::mount {

/// The layers of an overlay as it stacks them: `lowers` lowest first (as
/// layers are stored), returned top first, a layer listed twice only where
/// it is highest.
std::vector<std::filesystem::path> layers_top_first(const std::vector<std::filesystem::path>& lowers);

/// The mount data of an overlay: `lowers` lowest first (as layers are stored),
/// a layer listed twice only where it is highest; ':' ',' and '\\' in paths
/// are escaped.
std::string overlay_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work);

/// A path of an overlay's mount options as overlay_options() escaped it,
/// and as the kernel shows what was given so: unescaped.
std::string unescape_option_path(std::string_view escaped);
/// The layers of such a "lowerdir=" value: split at each ':' not escaped,
/// unescaped.
std::vector<std::string> split_lowerdir(std::string_view value);

/// How an overlay treats its upper layer's durability.
enum class UpperSync {
  kSynced,    ///< syncs reach the upper filesystem, and unmounting syncs it
  kVolatile,  ///< "volatile": no sync at all, where the kernel has it
};

/// Mounts an overlay on `target`, also where the layers' paths need more
/// than mount(2)'s one page of options: of as many layers as overlayfs
/// stacks (500) from Linux 6.8, of about 220 before. A volatile overlay leaves a marker in
/// `work` that makes the kernel refuse to mount it again (after a crash its
/// upper layer may be incomplete); clear_volatile_marker removes it.
void mount_overlay(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                   const std::filesystem::path& work, const std::filesystem::path& target,
                   UpperSync sync = UpperSync::kSynced);

/// mount_overlay's way, before Linux 6.8, with more layers than one page of
/// options holds with their paths: each layer is named by a descriptor
/// (/proc/self/fd/N), which is what /proc/self/mountinfo then shows.
/// About 220 layers fit (docker allows 127).
void mount_overlay_through_fds(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                               const std::filesystem::path& work, const std::filesystem::path& target,
                               UpperSync sync = UpperSync::kSynced);

/// Removes the marker a volatile mount left in `work`, for an upper layer
/// known to hold nothing that a crash could have cut short.
void clear_volatile_marker(const std::filesystem::path& work);

/// Whether `work` holds the marker of a volatile mount.
bool has_volatile_marker(const std::filesystem::path& work);

}  // namespace crt::mount
