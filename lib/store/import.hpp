#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "store/image_sources.hpp"
#include "store/store.hpp"

namespace crt::store {

/// The source that stands for standard input.
inline constexpr const char* kStdin = "-";

struct ImportRequest {
  std::filesystem::path source;        ///< kStdin: an archive on standard input
  std::optional<SourceFormat> format;  ///< nullopt: detect_format()
  std::optional<Reference> name;       ///< required for a rootfs
  Store::ImportOptions rootfs;         ///< the configuration of a rootfs image
  oci::Platform platform = oci::host_platform();
  /// Asked often: true ends the import ("interrupted"), leaving nothing of
  /// it in the store.
  std::function<bool()> cancelled;
  /// The layers pods use, which a failed import does not take out again
  /// (Store::commit_images(), Store::import_rootfs()).
  PinnedLayers pinned;
  /// How a name a layout or archive records is named in the store (as a
  /// pull names it: runtime::store_key); none: as written.
  std::function<std::string(const std::string&)> name_key;
};

/// Imports an OCI layout, an oci-archive, a docker-archive, or a rootfs
/// directory or tarball (`crt image import`). Returns the images added.
/// An archive on standard input is copied to the store's tmp/ first (it is
/// read more than once), unnamed so nothing of it stays however crt ends;
/// that copy then is the process's standard input.
std::vector<Image> import_images(Store& store, const ImportRequest& req, Progress& progress);

}  // namespace crt::store
