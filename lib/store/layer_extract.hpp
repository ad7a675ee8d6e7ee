#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/byte_source.hpp"

namespace crt::store {

/// What a layer blob must be; empty fields are not checked.
struct LayerExpectation {
  std::string blob_digest;  ///< "sha256:" of the blob as stored (compressed)
  int64_t blob_size = -1;
  std::string diff_id;  ///< "sha256:" of the uncompressed tar
};

struct ExtractedLayer {
  std::string blob_digest;
  uint64_t blob_size = 0;
  std::string diff_id;
  uint64_t size = 0;       ///< bytes of file content
  std::string media_type;  ///< the OCI layer media type its compression calls for
};

struct ExtractOptions {
  /// When valid, every byte of the blob is also written here (keeping the
  /// blob while extracting it, in one read).
  int copy_fd = -1;
  /// Called on the calling thread with the blob bytes consumed so far.
  std::function<void(uint64_t)> on_progress;
  /// The trees of the layers below, lowest first: a directory the layer
  /// implies (holds entries in without listing it) is made as they have it.
  std::vector<std::filesystem::path> lowers;
};

/// The OCI layer media type of a stored layer blob, by its compression, as
/// extract_layer() finds it.
std::string layer_media_type(const std::filesystem::path& blob);

/// Unpacks an OCI layer (a tar, gzip- or zstd-compressed or not, recognized
/// by its bytes) into the new directory `dest`, the way overlayfs needs it:
/// ".wh.NAME" becomes a 0/0 character device NAME and ".wh..wh..opq" the
/// trusted.overlay.opaque xattr of its directory; AUFS's metadata
/// (".wh..wh.plnk/" …) is left out. Owners (numeric), modes,
/// times, xattrs (security.capability included; ACLs as their xattrs) are kept, device
/// nodes and FIFOs created; an entry that would land outside `dest`, a
/// literal 0/0 character device (overlayfs would take it for a whiteout) and
/// overlayfs' own xattrs are refused. Decompression and both digests run on a
/// thread of their own, overlapped with writing the files; the blob digest
/// and the diff_id are checked against `want` at the end. On failure `dest`
/// is left for the caller to remove. Errors do not name the blob (nor the
/// blob digest expected): the caller does, once.
ExtractedLayer extract_layer(ByteSource& blob, const std::filesystem::path& dest, const LayerExpectation& want,
                             const ExtractOptions& opts = {});

/// Reads a layer blob as extract_layer() does (its digests computed and
/// checked against `want`, the blob copied as `opts` says) but writes no
/// tree: for a layer whose tree is there already. `size` is left 0.
ExtractedLayer check_layer(ByteSource& blob, const LayerExpectation& want, const ExtractOptions& opts = {});

}  // namespace crt::store
