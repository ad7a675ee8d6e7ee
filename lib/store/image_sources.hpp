#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/image.hpp"
#include "store/layout_files.hpp"
#include "store/oci.hpp"
#include "store/store.hpp"

namespace crt::store {

/// What `crt image import` was given.
enum class SourceFormat { kOciLayout, kOciArchive, kDockerArchive, kRootfs };

/// "oci", "oci-archive", "docker-archive", "rootfs".
std::string format_name(SourceFormat f);
SourceFormat parse_format(const std::string& name);

/// Recognizes a source: a directory with an `oci-layout` file is an OCI
/// layout, other directories are a rootfs; a tar archive holding `oci-layout`
/// is an oci-archive, one holding `manifest.json` (as `docker save` writes it)
/// a docker-archive; any other tar archive is a rootfs.
SourceFormat detect_format(const std::filesystem::path& source);

/// How a name an archive records is named in the store (import.hpp's
/// ImportRequest::name_key); none: as written.
using NameKey = std::function<std::string(const std::string&)>;

/// The images of an OCI layout (directory or archive), ready for
/// Store::commit_image. With `name`, the one image of the layout (or the one
/// whose org.opencontainers.image.ref.name, keyed, matches the name or its
/// tag) is named `name`; without, every image is taken under its ref name
/// ("NAME:TAG" keyed; a bare tag is put after the layout's base name), its
/// spelling as written among its replaced_names where that differs. An
/// index entry that is itself an index yields its manifest for `platform`.
/// Each manifest and configuration is checked against its digest here;
/// each layer when it is stored.
std::vector<ImageInput> read_oci_layout(const LayoutFiles& files, const std::string& layout_name,
                                        const std::optional<Reference>& name, const oci::Platform& platform,
                                        const NameKey& key = {});

/// The images of a `docker save` archive (manifest.json), named by their
/// RepoTags, keyed as read_oci_layout() keys ref names, or by `name` (which
/// selects among several by RepoTag).
std::vector<ImageInput> read_docker_archive(const LayoutFiles& files, const std::optional<Reference>& name,
                                            const NameKey& key = {});

}  // namespace crt::store
