#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "store/store.hpp"

namespace crt::store {

/// Writes `im` as an oci-archive (an OCI image layout in a tar) to `out`,
/// named `ref_name` (org.opencontainers.image.ref.name) when not empty. The
/// blobs are those the image came with, so digests survive the round trip; an
/// image imported from a rootfs gets its layer as the canonical tar of its
/// tree, whose digest is its diff_id (checked). Written to a temporary file
/// beside `out` and renamed.
///
/// With `changes`, the archive holds a new image: `im` with one more layer on
/// top, made from that overlay upper directory (archive_overlay_upper()), its
/// configuration's diff_ids and history extended by it.
struct AddedLayer {
  std::filesystem::path upper;  ///< an overlay's upper directory
  std::string created_by;       ///< for the image history
  std::set<std::string> leave_out;  ///< relative paths of `upper` not to archive
  std::string created;              ///< the new image's creation time (RFC 3339); empty: now
};
/// The `out` that is crt's stdout (not a terminal), written as it goes.
inline constexpr const char* kStdout = "-";

/// Whether an export replaces a file of its name.
enum class Replace { kNo, kYes };

/// Throws unless an archive may be written as `out`: nothing of that name,
/// or (kYes) a regular file, which it replaces. A directory, a symbolic
/// link, a device, a FIFO or a socket is never replaced.
void check_archive_target(const std::filesystem::path& out, Replace replace);

/// `checkpoint`, if set, is called often (before each write): what it throws
/// ends the export, and leaves nothing of it behind. `out` appears only
/// once complete; with Replace::kNo, an `out` that exists by then is an
/// error. `out` is checked first (check_archive_target()), and again before
/// it is replaced. A file `out` is made with `mode` (the caller's umask
/// applied: crt runs with its own). A stored layer blob found damaged as it
/// is copied is taken out of the store (BlobStore::remove_damaged()), for
/// the next import or pull of the image to store it anew; the caller holds
/// the store's lock shared.
void export_oci_archive(const Store& store, const Image& im, const std::filesystem::path& out,
                        const std::string& ref_name, const std::optional<AddedLayer>& changes = std::nullopt,
                        const std::function<void()>& checkpoint = {}, Replace replace = Replace::kYes,
                        mode_t mode = 0644);

}  // namespace crt::store
