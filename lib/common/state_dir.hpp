#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace crt {

/// The directories crt makes at the top of its state directory.
inline constexpr const char* kStateSubdirs[] = {"store", "pods"};

/// Checks crt's state directory `dir` (as given, its symlink not resolved)
/// as sshd's StrictModes checks a user's files: root writes there (trees
/// of images, pods' files, chmod, removals), so a user who could change
/// it, or plant a symlink in it, could make root write where they choose.
/// Refused, with a crt::Error naming the path, what is wrong and how to
/// put it right: `dir` owned by another than root (or the user crt runs
/// as) or writable by its group or others; a symlink of crt's (`dir`
/// itself, each link of a chain) owned by another; a directory of
/// kStateSubdirs that is a symlink, another file than a directory, owned
/// by another or writable by its group or others. Nothing to check when
/// `dir` is missing: crt makes it, 0755, root's.
void check_state_dir(const std::filesystem::path& dir);

/// The directory `name` (one of kStateSubdirs) of the state directory
/// `dir`, made with `mode` (and `dir`, 0755) when missing, then both
/// checked as check_state_dir() does: what another user made there
/// before crt is refused, not used.
std::filesystem::path make_state_subdir(const std::filesystem::path& dir, const std::string& name, mode_t mode);

}  // namespace crt
