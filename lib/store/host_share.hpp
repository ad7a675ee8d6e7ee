#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace crt::store {

/// What share_host_files() linked.
struct SharedFiles {
  size_t files = 0;
  uint64_t bytes = 0;
};

/// Replaces each regular file under usr/ of a freshly unpacked `tree` that
/// is byte-identical to the file at the same path under `host_root` (same
/// owner, mode, size and mtime, no xattrs on either, not setuid or setgid,
/// same file system) with a hard link to that file; the tree then still
/// archives to its diff_id. stage1 is made of the host's own systemd and
/// libraries: linked, the pods' systemd and journald share their page cache
/// with the host's nspawn and every other process using those libraries,
/// rather than each copy being read into memory of its own.
///
/// Paths resolve inside `host_root` (openat2 RESOLVE_IN_ROOT); a file that
/// is missing, different or cannot be linked is simply kept. What a tree
/// shares stays as it was when linked, since package managers replace files
/// by renaming new ones over them; a file changed in place on the host
/// (some editors and `strip` do so for a file with several links) changes
/// in the tree too.
SharedFiles share_host_files(const std::filesystem::path& tree, const std::filesystem::path& host_root);

}  // namespace crt::store
