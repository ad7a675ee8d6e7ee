#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pod/manifest.hpp"
#include "runtime/image_pull.hpp"
#include "store/store.hpp"

namespace crt::runtime {

/// crt's data directory: <prefix>/lib/crt next to <prefix>/bin/crt, holding
/// stage1.tar (+ .sha256), pod-seccomp.bpf and the built-in images under
/// images/.
std::filesystem::path default_data_dir();
/// The data directory of the crt binary at `crt`.
std::filesystem::path data_dir_of(const std::filesystem::path& crt);

/// The stage1 image in the store, importing it on first use. `override`
/// (--stage1-path) is a stage1 tarball or rootfs directory. An image under
/// a tarball's stage1 name that crt did not import from that tarball (an
/// older crt let any import take the name) is replaced, with a warning to
/// `messages`.
store::Image ensure_stage1(store::Store& store, const std::filesystem::path& data_dir,
                           const std::optional<std::filesystem::path>& override, const MessageSink& messages = {});

/// The stage1 images in the store that are not this crt's: each build's
/// stage1 is stored as crt-stage1:HASH on first use, and one of an earlier
/// build (or a --stage1-path tried once) would otherwise stay for ever.
/// Images with no other name than crt-stage1:*, other than the one of
/// `data_dir`'s stage1.tar; by ID; none without that file. (A stage1 given
/// again is imported again.)
std::vector<std::string> other_stage1_images(const store::Store& store, const std::filesystem::path& data_dir);

/// The image `ref` names: a built-in image (images/NAME.tar in the data
/// directory, such as busybox) is imported on first use; any other comes
/// from the store or a registry, as `opts.policy` says.
store::Image resolve_image(store::Store& store, const std::string& ref, const std::filesystem::path& data_dir,
                           const ResolveOptions& opts = {});

/// What the store knows the image `ref` names under: a reference that names
/// its registry as a pull stores it ("docker.io/x" is
/// "docker.io/library/x:latest"; "NAME:TAG@DIGEST" is "NAME@DIGEST", a repo
/// digest); any other reference as it is.
std::string store_key(const std::string& ref);

/// `ref` if the store has an image under it as written (an import by an
/// older crt named images as their archive did: "docker.io/x:1"), else
/// store_key(ref) (as a pull, or an import, names them).
std::string stored_key(const store::Store& store, const std::string& ref);

/// The image the store has under stored_key(ref).
std::optional<store::Image> find_stored(const store::Store& store, const std::string& ref);

/// The image the store has under `ref`, or the built-in image `ref` names
/// (imported now, as a pod's first use would); nullopt when neither.
std::optional<store::Image> find_image(store::Store& store, const std::string& ref,
                                       const std::filesystem::path& data_dir);

/// An image read under the store's shared lock, which it holds: no crt
/// image rm or gc takes the image while it is in use.
struct LockedImage {
  store::Image image;
  FileLock lock;
};

/// The image find_image() finds, read again by its ID under the store's
/// shared lock (taken after the lookup, which may import a built-in image).
/// Throws the store's no_image(ref) when there is none, also when a crt
/// image rm removed it between the lookup and the lock.
LockedImage find_image_locked(store::Store& store, const std::string& ref, const std::filesystem::path& data_dir);

/// Imports every built-in image the store lacks (so that `crt image list`
/// shows what `crt run` finds); returns what each that could not be
/// imported failed with.
std::vector<std::string> import_missing_builtins(store::Store& store, const std::filesystem::path& data_dir);

/// Whether "name:tag" is a built-in image's name (images/NAME.json in the
/// data directory, tag latest): one crt imports again when it is used.
bool is_builtin_image(const std::string& name_tag, const std::filesystem::path& data_dir);

/// Imports the built-in image `name` if it exists; nullopt otherwise.
std::optional<store::Image> import_builtin(store::Store& store, const std::string& name,
                                           const std::filesystem::path& data_dir);

/// Whether the name an app's image was found by when its pod was made
/// (`image`, as the pod recorded it) no longer names that image in the
/// store (`names`: store::image_names()): an import or a pull moved it to
/// another image, or it was removed. Never so of an image that had no name
/// (run by its ID), or of one the pod did not record the ID of.
bool image_name_moved(const pod::ImageRef& image, const std::map<std::string, std::string>& names);

/// How crt list and crt inspect show an app's image: by the name it was run
/// by, or, once that names another image (image_name_moved()), by its ID
/// (`id`: as the caller shortens it) and "(was NAME)".
std::string shown_image(const std::string& name, const std::string& id, bool moved);

}  // namespace crt::runtime
