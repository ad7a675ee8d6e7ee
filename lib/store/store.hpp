#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/lock.hpp"
#include "common/message.hpp"
#include "store/blob_store.hpp"
#include "store/byte_source.hpp"
#include "store/image.hpp"
#include "store/progress.hpp"

namespace crt::store {

class WorkDir;

/// A layer of an image being added: its blob as distributed.
struct LayerInput {
  std::string media_type;
  std::string digest;  ///< empty: not known beforehand (a `docker save` layer); computed
  int64_t size = -1;   ///< -1: unknown
  /// Opens the blob; not called when the store has the blob already (of
  /// `size`: one of another size is damaged, and replaced from here) and
  /// it reads intact. Without it, a stored blob found damaged fails the
  /// commit.
  std::function<std::unique_ptr<ByteSource>()> open;
};

/// Where LayerInput::open() gets a layer blob from, as messages say it.
enum class LayerSource {
  kAdded,     ///< the archive or layout being added
  kRegistry,  ///< the image's registry: open() fetches the blob again
};

/// An image being added to the store, from wherever it came.
struct ImageInput {
  std::string config;    ///< the configuration blob
  std::string manifest;  ///< the manifest blob as distributed; empty: crt writes one
  std::vector<LayerInput> layers;
  LayerSource layer_source = LayerSource::kAdded;
  std::vector<Reference> names;
  /// Other spellings of its names (as an older crt stored the names an
  /// archive records): taken from every image that has them.
  std::vector<std::string> replaced_names;
  std::vector<std::string> repo_digests;
  /// Asked as layers are unpacked; true gives up the import ("interrupted").
  std::function<bool()> cancelled;
};

/// What `gc` removed.
struct GcResult {
  size_t trees = 0;
  size_t blobs = 0;
  size_t tmp = 0;
  uint64_t bytes = 0;
  /// Trees no image and no layer of Pins::layers uses, kept as Pins::unknown
  /// said that any may be in use.
  size_t trees_kept = 0;
  /// What could not be removed (a mount point someone made in it), each
  /// with why; the rest was removed and is counted above.
  std::vector<std::string> failed;
};

/// What the files of a tree (or a single file) take, each file once
/// however many hard links it has.
struct TreeUsage {
  uint64_t content = 0;  ///< bytes of regular files' content
  uint64_t disk = 0;     ///< bytes of disk blocks, directories and all
};
TreeUsage tree_usage(const std::filesystem::path& path);

/// The layers (diff_ids) pods use.
struct Pins {
  std::set<std::string> layers;
  /// Which layers some pod uses cannot be told: it may use any, and no
  /// layer tree is removed.
  bool unknown = false;
};

/// Asked for the Pins while the store is locked against pods being
/// prepared, so the answer cannot go stale.
using PinnedLayers = std::function<Pins()>;

/// What remove() removed.
struct Removal {
  Image image;  ///< the whole image, or only the name it took
  /// Layers of the image no other image and no layer of Pins::layers uses,
  /// kept as Pins::unknown said that they may be in use.
  size_t trees_kept = 0;
  /// Layers of the image that could not be removed, each with why: the
  /// image is gone all the same, and crt image gc tries them again.
  std::vector<std::string> trees_failed;
  /// Bytes of disk the layer trees and blobs removed took.
  uint64_t bytes = 0;
};

/// The image ID each name of the store under `dir` names ("name:tag"),
/// read without opening (or making) the store: empty when there is none
/// (or its index is damaged, which the image commands tell).
std::map<std::string, std::string> image_names(const std::filesystem::path& dir);

/// The content-addressed image store under `<dir>/store`:
///
///   index.json            images: id, names, layers, manifests, blobs (atomically replaced)
///   index.lock            flock held while index.json is rewritten
///   reserve               space kept for a removal to rewrite the index on a full
///                         disk (twice the index, 1 MiB at least); made again when
///                         there is room
///   blobs/sha256/<hex>    manifests, configurations and layer blobs, each checked
///   trees/<hex>           one extracted, never modified tree per layer diff_id;
///                         OCI whiteouts stored as overlayfs whiteouts
///   tmp/                  work in progress and resumable downloads; invisible
///                         until renamed into place
///   locks/                flocks of single layers and blobs being added, so
///                         that two processes never add the same one twice
///   lock                  flock: shared by whoever adds to or uses the store
///                         (imports, pulls, pods being prepared), exclusive by
///                         whoever removes from it (rm, gc)
class Store {
 public:
  /// Opens the store under `dir`, creating its directories if needed.
  explicit Store(std::filesystem::path dir);

  struct ImportOptions {
    RunConfig config;
    std::string created;  ///< RFC 3339; now when empty
    /// Files identical to the host's under this root become hard links to
    /// them (share_host_files): for stage1, made of the host's own files.
    std::optional<std::filesystem::path> share_with;
    /// Asked often while the rootfs is unpacked: true ends the import
    /// ("interrupted"), leaving nothing of it.
    std::function<bool()> cancelled;
    /// Set by crt's own import of its stage1 alone (Image::stage1_source):
    /// the one import that may name an image crt-stage1 (kStage1Name), and
    /// whose image says so, so that a later pod tells it from an image an
    /// older crt let in under that name.
    std::string stage1_source = {};
  };

  /// Imports a rootfs directory or tarball as a one-layer image named `name`.
  /// Atomic: on any failure nothing of it is left in the store (but a tree
  /// or blob that another image or a pod took up meanwhile: `pinned` says
  /// which layers pods use, as for commit_images()).
  Image import_rootfs(const std::filesystem::path& source, const Reference& name, const ImportOptions& opts,
                      const PinnedLayers& pinned = {});

  /// Adds an image: checks the configuration, stores every blob it lacks
  /// (checking each digest) and unpacks every layer it lacks (checking each
  /// diff_id), then names the image. A layer another image has is not
  /// unpacked again; two processes adding the same layer unpack it once.
  /// On an error the layer trees and blobs it added are taken out again
  /// (roll_back()), as for commit_images(); blobs stored before it was
  /// called (a pull's fetched layers) stay. `held`: the store's lock, held
  /// shared by a caller that stored the image's blobs under it (a pull, so
  /// that no gc took them meanwhile); it is let go of when the commit ends.
  Image commit_image(const ImageInput& in, Progress& progress, const PinnedLayers& pinned = {}, FileLock held = {});

  /// Adds several images as commit_image() does, naming all or none: every
  /// image is stored first, then all are named in one change of the index.
  /// An error names the image that failed (by its name, else its manifest's
  /// digest); the layer trees and blobs this call added are taken out again
  /// (roll_back()), but those another image names by then, or `pinned`
  /// says a pod uses.
  std::vector<Image> commit_images(const std::vector<ImageInput>& ins, Progress& progress,
                                   const PinnedLayers& pinned = {});

  /// Finds an image by "name[:tag]" or "name@sha256:<digest>" (the image
  /// with the manifest that name or repo digest was added by as its own:
  /// Image::manifest_of(), Image::select_manifest()), by id ("sha256:<hex>")
  /// or by a unique prefix of at least 4 hex digits of its id (the image with
  /// the manifest it was first added by).
  [[nodiscard]] std::optional<Image> find(std::string_view ref) const;

  /// Whether `ref` (as find() takes it) names an image; its configuration
  /// is not read, so a damaged one does not hide the image.
  [[nodiscard]] bool has_image(std::string_view ref) const;

  /// Every image. One whose configuration is damaged is listed all the same
  /// (without it), with a warning to the messages.
  [[nodiscard]] std::vector<Image> list() const;

  /// The error for an image `ref` the store lacks: "no image REF in the
  /// store", then `more`, or instead, when `ref` is too short an ID prefix
  /// of an image it has, that.
  [[nodiscard]] Error no_image(std::string_view ref, std::string_view more = "") const;

  /// Whether remove(ref) would only take that name from an image that has
  /// others (the image, and the pods using it, stay).
  [[nodiscard]] bool removes_only_a_name(std::string_view ref) const;

  /// Removes the image `ref` names (only that name when it has others), and
  /// every layer tree and blob nothing else uses; layers `pinned` names (used
  /// by pods), or all of them when it cannot tell, stay until a later gc.
  /// Before the whole image goes, `before_whole` may refuse it by throwing;
  /// it runs under the store's lock, so no other removal takes the image's
  /// other names meanwhile.
  Removal remove(std::string_view ref, const PinnedLayers& pinned = {},
                 const std::function<void(const Image&)>& before_whole = {});

  /// Removes every layer tree no image and no layer `pinned` names uses
  /// (none when it cannot tell), every blob no image uses, and the work that
  /// interrupted imports and pulls left in tmp/. (A pod mounts layer trees
  /// only: blobs are the images'.)
  GcResult gc(const PinnedLayers& pinned);

  /// The tree of a layer.
  [[nodiscard]] std::filesystem::path tree_path(std::string_view diff_id) const;

  /// The trees of layers (diff ids), in their order: an image's or a pod
  /// app's, lowest first. They begin at the highest layer whose root is
  /// opaque (a ".wh..wh..opq" at its root): it hides all below.
  [[nodiscard]] std::vector<std::filesystem::path> tree_paths(const std::vector<std::string>& layers) const;
  [[nodiscard]] std::vector<std::filesystem::path> tree_paths(const Image& im) const { return tree_paths(im.layers); }

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }
  [[nodiscard]] const BlobStore& blobs() const { return blobs_; }

  /// The configuration blob of an image, checked.
  [[nodiscard]] std::string config_blob(const Image& im) const;

  /// Holds the store's lock shared: nothing is removed meanwhile.
  [[nodiscard]] FileLock lock_shared() const;
  /// `lock`, the caller's lock_shared(), is held while this store adds
  /// images (crt run's, from the lookup of its images until they are
  /// mounted, so that none is removed meanwhile). The rollback of an
  /// addition that fails meanwhile needs the lock to itself, and flock's
  /// locks of two opens of a file conflict also within one process: it
  /// waits for roll_back_deferred(), called once `lock` is let go of.
  void set_callers_lock(const FileLock* lock) { callers_lock_ = lock; }
  /// The rollbacks set_callers_lock() deferred; what fails is a warning.
  void roll_back_deferred() noexcept;

  /// What this store's locks do while another process holds them (the
  /// store's lock, a layer's, a blob's): by default they wait in silence.
  void set_lock_wait(LockWait wait);

  /// Where warnings go: what an import could not restore of a file but is
  /// no error. By default nowhere.
  void set_messages(MessageSink messages) { messages_ = std::move(messages); }

 private:
  [[nodiscard]] std::vector<Image> load_index() const;
  void save_index(const std::vector<Image>& images) const;
  /// Rewrites the index under index.lock.
  void update_index(const std::function<void(std::vector<Image>&)>& change) const;
  /// Grows `reserve` to twice the index (1 MiB at least) if there is room.
  /// Under the store's exclusive lock: a removal of another crt may be
  /// spending the reserve's room.
  void keep_reserve() const noexcept;
  /// keep_reserve() after a removal's trees went, without the lock: unless
  /// another crt holds it now, when its own index update remakes it.
  void keep_reserve_unless_busy() const noexcept;
  /// Runs `f`; if it fails for want of space, spends the reserve and runs it
  /// again: for a removal, which frees space, never for an addition.
  void spending_reserve(const std::function<void()>& f) const;
  [[nodiscard]] FileLock lock_exclusive() const;
  void load_config(Image& im) const;
  /// What a commit of images knows as it goes.
  struct Commit {
    /// (blob digest, diff_id) pairs known to agree: an image in the index
    /// has them, or they were checked during this commit.
    std::set<std::pair<std::string, std::string>> checked;
    /// The layer trees (diff_ids) and blobs (digests) it put in the store
    /// that were not there before.
    std::set<std::string> added_trees;
    std::set<std::string> added_blobs;
    /// The lock files (names in locks/) of the layers it took: its
    /// rollback removes them, as a gc would, under the store's exclusive
    /// lock (no one else waits for them then).
    std::set<std::string> locks;
  };
  /// Holds the lock of a layer being added; its name in locks/ goes into
  /// `commit`'s locks.
  [[nodiscard]] FileLock lock_layer(const std::string& diff_id, Commit& commit) const;
  [[nodiscard]] Commit begin_commit() const;
  /// Stores an image's blobs and layers without naming it; the caller holds
  /// the store's lock shared until it is named.
  Image store_image(const ImageInput& in, Progress& progress, Commit& commit);
  /// Unpacks layer `i` of `in` (diff_id `layers[i]`, over the trees of
  /// the layers below) unless its tree and blob are there and the commit
  /// knows them paired; else checks the blob against the tree's diff_id.
  /// `seen`: the diff_ids of the image's layers so far.
  LayerBlob add_layer(const ImageInput& in, size_t i, const std::vector<std::string>& layers, Progress& progress,
                      std::set<std::string>& seen, Commit& commit, uint64_t& size);
  /// Takes out again what a failed `commit` added that no image names and
  /// no layer of `pinned` is, with the store's lock taken exclusive (after
  /// the caller let go of its shared one): by then every other crt that may
  /// have taken up a tree or blob the commit added has named it or given
  /// up. It waits for that lock a moment only (a failed command does not
  /// wait for another's long pull to end): what it cannot take out is left
  /// to a gc, with a warning.
  void roll_back(const Commit& commit, const PinnedLayers& pinned) const;
  /// roll_back() once no hold of this process's is on the store's lock.
  void roll_back_unlocked(const Commit& commit, const PinnedLayers& pinned) const;
  /// Syncs blobs/sha256/ and trees/, so that what was renamed into them (by
  /// this commit, or a BlobWriter before it) is there after a crash before
  /// the index names it: one fsync of each for all of an import or pull.
  void sync_additions() const;
  /// Moves a layer's tree out of trees/ into a work directory of tmp/ (null:
  /// there is none), under the store's lock. Removing its files takes as
  /// long as they are many, and is left for after the lock is let go of
  /// (remove_detached()): the work directory's lock keeps other cleanups of
  /// tmp/ off it meanwhile, and a removal cut short leaves it to the next.
  [[nodiscard]] std::unique_ptr<WorkDir> detach_tree(const std::string& hex) const;

  std::filesystem::path root_;
  BlobStore blobs_;  ///< holds the LockWait of set_lock_wait() for all the store's locks
  MessageSink messages_;
  const FileLock* callers_lock_ = nullptr;
  /// Rollbacks waiting for the caller's hold to end (set_callers_lock()).
  mutable std::vector<std::pair<Commit, PinnedLayers>> deferred_rollbacks_;
};

}  // namespace crt::store
