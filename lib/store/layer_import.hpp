#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace crt::store {

/// The result of unpacking one layer.
struct UnpackedLayer {
  std::string diff_id;  ///< "sha256:" of the canonical (uncompressed POSIX tar) form
  uint64_t size = 0;    ///< bytes of file content
};

/// Unpacks a rootfs given as a directory or a tar archive (plain, gzip, zstd,
/// xz …) into the new directory `dest`, preserving owners, modes, times,
/// xattrs and ACLs. Entries that would land outside `dest` ("..", absolute
/// paths, paths through symlinks) are an error. The digest is that of the
/// layer re-serialized as a deterministic tar, so the same content always
/// yields the same layer.
UnpackedLayer unpack_rootfs(const std::filesystem::path& source, const std::filesystem::path& dest);

}  // namespace crt::store
