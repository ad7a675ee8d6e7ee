#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "store/image_sources.hpp"
#include "store/store.hpp"

namespace crt::store {

struct ImportRequest {
  std::filesystem::path source;
  std::optional<SourceFormat> format;  ///< nullopt: detect_format()
  std::optional<Reference> name;       ///< required for a rootfs
  Store::ImportOptions rootfs;         ///< the configuration of a rootfs image
  oci::Platform platform = oci::host_platform();
  /// Asked often: true ends the import ("interrupted"), leaving nothing of
  /// it in the store.
  std::function<bool()> cancelled;
};

/// Imports an OCI layout, an oci-archive, a docker-archive, or a rootfs
/// directory or tarball (`crt image import`). Returns the images added.
std::vector<Image> import_images(Store& store, const ImportRequest& req, Progress& progress);

}  // namespace crt::store
