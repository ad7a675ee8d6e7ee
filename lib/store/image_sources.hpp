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

/// Recognizes a source by what it holds, not by names alone (a rootfs may
/// have a file of any name): a directory with an `oci-layout` file (JSON
/// with an imageLayoutVersion), an `index.json` and a `blobs/` directory is
/// an OCI layout, other directories are a rootfs; a tar archive whose first
/// member is named as only image archives name one is an oci-archive when
/// it holds such an OCI layout, else a docker-archive when its
/// `manifest.json` lists images as `docker save` writes it (each with its
/// Config and Layers); any other tar archive is a rootfs. Throws for an
/// archive of such names alone that is neither.
SourceFormat detect_format(const std::filesystem::path& source);

/// Checks that the files of a layout or archive of format `f` name each
/// other: a docker archive's manifest.json lists images whose Config and
/// Layers it holds; an OCI layout's index.json lists manifests whose blobs
/// it holds. Throws crt::Error saying what is not there.
void check_image_files(const LayoutFiles& files, SourceFormat f);

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
