#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace crt::store {

namespace stdfs = std::filesystem;

/// Resolves `path` in the union of the directory trees `dirs` (the topmost
/// first: an overlay's upper directory, then its lower ones) as overlayfs
/// shows them, without mounting them: an entry hides those of the trees
/// below, a whiteout (a 0/0 character device) deletes them, an opaque
/// directory (trusted.overlay.opaque=y) hides what is below it. Symlinks are
/// followed inside the union the way a process chrooted there would follow
/// them: absolute ones from its root, and ".." stops at the root. Where a
/// component does not exist the rest is taken as it is.
///
/// Returns the path relative to the union's root, clean ("a/b", "" for the
/// root), none of whose existing components is a symlink (unless more than
/// 40 links were met: the rest is then taken as it is).
std::string resolve_in_union(const std::vector<stdfs::path>& dirs, std::string_view path);

/// Whether the union of `dirs` (as above) shows an entry at `path`, taken as
/// it is (no symlink followed): deleted by a whiteout or hidden below an
/// opaque directory is not there.
bool exists_in_union(const std::vector<stdfs::path>& dirs, const std::string& path);

}  // namespace crt::store
