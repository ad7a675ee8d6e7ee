#pragma once

#include <filesystem>
#include <string>

#include "store/store.hpp"

namespace crt::store {

/// Writes `im` as an oci-archive (an OCI image layout in a tar) to `out`,
/// named `ref_name` (org.opencontainers.image.ref.name) when not empty. The
/// blobs are those the image came with, so digests survive the round trip; an
/// image imported from a rootfs gets its layer as the canonical tar of its
/// tree, whose digest is its diff_id (checked). Written to a temporary file
/// beside `out` and renamed.
void export_oci_archive(const Store& store, const Image& im, const std::filesystem::path& out,
                        const std::string& ref_name);

}  // namespace crt::store
