#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/message.hpp"

namespace crt::store {

/// The result of unpacking one layer.
struct UnpackedLayer {
  std::string diff_id;  ///< "sha256:" of the canonical (uncompressed POSIX tar) form
  uint64_t size = 0;    ///< bytes of file content
};

/// Unpacks a rootfs given as a directory or a tar archive (plain, gzip, zstd,
/// xz …) into the new directory `dest`, preserving owners, modes, times,
/// xattrs and ACLs. Entries that would land outside `dest` ("..", paths
/// through symlinks) are an error; a tarball's later entry replaces an
/// earlier one of its name, as an OCI layer's does. The digest is that of the
/// layer re-serialized as a deterministic tar, so the same content always
/// yields the same layer: each aligned MiB of a file that holds only zeros
/// is a hole of its entry (a GNU sparse 1.0 pax entry), whether it was a
/// hole on disk or written zeros. `cancelled`, if set, is asked often: true ends
/// the unpacking with an error ("interrupted"). What could not be restored
/// of an entry but is no error (an xattr the file system refuses …) goes to
/// `warnings`, naming the entry. A source directory holding `dest` (crt's
/// store is in the tree imported, as when it is "/"), or one of the
/// directories `own`, leaves them out, which is told to `warnings`.
UnpackedLayer unpack_rootfs(const std::filesystem::path& source, const std::filesystem::path& dest,
                            const std::function<bool()>& cancelled = {}, const MessageSink& warnings = {},
                            const std::vector<std::filesystem::path>& own = {});

/// Copies the directory `source` into the new directory `dest` as
/// unpack_rootfs() unpacks it, without taking its digest: a volume's first
/// content, from its image.
void copy_tree(const std::filesystem::path& source, const std::filesystem::path& dest);

/// Receives the bytes of a tar archive as it is written; may throw.
using TarOutput = std::function<void(const void* data, size_t size)>;

/// Writes the tree `tree` as the deterministic tar unpack_rootfs() hashes, so
/// the digest of what `out` receives is the diff_id of a layer imported from
/// that tree. Nothing is written to disk.
UnpackedLayer archive_tree(const std::filesystem::path& tree, const TarOutput& out);

/// Writes the upper directory of an overlay as an OCI layer: its whiteouts
/// (0/0 character devices) become ".wh.NAME" files, its opaque directories
/// get a ".wh..wh..opq" file, overlayfs's own xattrs are left out. Throws
/// for what OCI cannot express (redirected directories, metacopy). Paths in
/// `leave_out` (relative, as "etc/hosts") are left out with all below them.
UnpackedLayer archive_overlay_upper(const std::filesystem::path& upper, const TarOutput& out,
                                    const std::set<std::string>& leave_out = {});

}  // namespace crt::store
