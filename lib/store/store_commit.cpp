// Adding images to the store: rootfs imports and OCI images.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "store/digest.hpp"
#include "store/host_share.hpp"
#include "store/layer_extract.hpp"
#include "store/layer_import.hpp"
#include "store/oci.hpp"
#include "store/store.hpp"
#include "store/work_dir.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

/// Durable before it becomes visible: a crash leaves either nothing or a
/// complete tree.
void sync_fs_of(const stdfs::path& p) {
  UniqueFd fd = fs::open_fd(p, O_RDONLY | O_DIRECTORY);
  if (::syncfs(fd.get()) < 0) throw_errno("syncing " + quote(p.string()));
}

/// Keeps the manifest `added`, the same image (configuration) as `im`, was
/// added by: as its own when it has none, else beside its first when a name
/// or repo digest of `added` names it, so that none names a manifest the
/// store lacks.
void keep_manifest(Image& im, const Image& added) {
  if (added.manifest.empty() || added.manifest == im.manifest) return;
  if (im.manifest.empty()) {
    im.manifest = added.manifest;
    im.blobs = added.blobs;
    return;
  }
  if (added.names.empty() && added.repo_digests.empty()) return;
  auto other = std::find_if(im.other_manifests.begin(), im.other_manifests.end(),
                            [&](const ImageManifest& m) { return m.digest == added.manifest; });
  if (other == im.other_manifests.end()) im.other_manifests.push_back({added.manifest, added.blobs});
}

/// Gives `im` its names and repo digests, taking them, and the other
/// spellings `replaced` of its names, from other images; each gives the
/// manifest it was added by (a name a rootfs import gives, the image's own;
/// an index's digest, the manifest the index led to). The one place images
/// are named: no image but crt's own stage1 (one with a stage1_source) takes
/// the stage1 images' name, whatever path it comes by.
void name_image(std::vector<Image>& images, const Image& im, const std::vector<std::string>& replaced = {}) {
  if (im.stage1_source.empty())
    for (const auto& n : im.names)
      if (auto ref = try_parse_reference(n)) refuse_stage1_name(*ref, "the image would be named");
  for (auto& other : images) {
    for (const auto& n : im.names) std::erase(other.names, n);
    for (const auto& n : replaced) std::erase(other.names, n);
    for (const auto& d : im.repo_digests) std::erase(other.repo_digests, d);
  }
  auto same = std::find_if(images.begin(), images.end(), [&](const Image& o) { return o.id == im.id; });
  if (same == images.end()) {
    same = images.insert(images.end(), im);
  } else {
    for (const auto& n : im.names) same->names.push_back(n);
    for (const auto& d : im.repo_digests) same->repo_digests.push_back(d);
    keep_manifest(*same, im);
    if (!im.stage1_source.empty()) same->stage1_source = im.stage1_source;
  }
  const std::string& added_by = im.manifest.empty() ? same->manifest : im.manifest;
  for (const auto& n : im.names) same->set_manifest_of(n, added_by);
  for (const auto& d : im.repo_digests) same->set_manifest_of(d, added_by);
}

std::string synthesize_manifest(const std::string& config_id, size_t config_size, const std::vector<LayerBlob>& blobs) {
  oci::Manifest m;
  m.media_type = std::string(oci::kImageManifest);
  m.config = {std::string(oci::kImageConfig), config_id, static_cast<int64_t>(config_size), std::nullopt, {}};
  for (const auto& b : blobs) m.layers.push_back({b.media_type, b.digest, b.size, std::nullopt, {}});
  return oci::serialize(m);
}

void check_manifest_matches(const std::string& manifest, const std::string& config_id, const std::vector<LayerBlob>& blobs) {
  oci::Manifest m = oci::parse_manifest(manifest);
  if (m.config.digest != config_id) throw Error("the manifest names configuration " + m.config.digest + ", not " + config_id);
  if (m.layers.size() != blobs.size()) throw Error("the manifest and the layers given disagree");
  for (size_t i = 0; i < blobs.size(); ++i)
    if (m.layers[i].digest != blobs[i].digest)
      throw Error("layer " + std::to_string(i + 1) + " is " + blobs[i].digest + ", the manifest says " + m.layers[i].digest);
}

/// Reads the blob of one layer for Store::add_layer(), the store's copy or
/// the source's: unpacks it into `work`/tree or, when the store has the
/// layer's tree, checks it against the tree's diff_id.
class LayerBlobReader {
 public:
  /// Where the layer goes: checked against a tree the store has, or
  /// unpacked into `work`/tree over the trees `lowers` (lowest first).
  struct Target {
    bool have_tree = false;
    stdfs::path work;
    std::vector<stdfs::path> lowers;
  };

  LayerBlobReader(const BlobStore& blobs, const ImageInput& in, const LayerInput& l, LayerExpectation want,
                  std::string task, Target target, Progress& progress)
      : blobs_(blobs),
        in_(in),
        l_(l),
        want_(std::move(want)),
        task_(std::move(task)),
        have_tree_(target.have_tree),
        work_(std::move(target.work)),
        lowers_(std::move(target.lowers)),
        progress_(progress) {}

  /// The store's copy, read; none when it is damaged (taken out of the
  /// store, for source_copy() to replace) or gone meanwhile. An intact one
  /// that is not the layer fails: the image is wrong, not the store.
  std::optional<ExtractedLayer> stored_copy() {
    try {
      FileSource stored(blobs_.path(l_.digest));
      return read(stored, -1);
    } catch (const Error&) {
      if (interrupted_) throw;
      // Damaged, it is taken out; gone meanwhile (taken out by another
      // crt), it is missing: either way the source's copy (a pull's,
      // fetched again) is stored instead, if it has one.
      std::string content = blobs_.check_stored(l_.digest);
      if (content == l_.digest) throw;
      if (!content.empty()) {
        if (!l_.open)
          throw Error("its blob in the store is damaged (its content is " + content +
                      "): removed it; import or pull the image again to store it anew");
        damaged_ = content;
      }
      if (!have_tree_) fs::remove_tree(work_ / "tree");
      return std::nullopt;
    }
  }

  /// The source's copy, read and stored, over the store's too (the copy is
  /// checked, a stored blob that was not read may be damaged); its digest
  /// goes into `added_blobs` when the store lacked it. A damaged copy it
  /// replaced is told to `messages`.
  ExtractedLayer source_copy(std::set<std::string>& added_blobs, const MessageSink& messages) {
    if (!l_.open) throw Error("its blob is missing");
    stdfs::path copy_path = work_ / "blob";
    UniqueFd copy = fs::open_fd(copy_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    auto from_source = [&] {
      std::unique_ptr<ByteSource> src = l_.open();
      return read(*src, copy.get());
    };
    bool fetched = in_.layer_source == LayerSource::kRegistry;
    ExtractedLayer x = damaged_.empty() ? from_source()
                                        : with_context("the store's copy was damaged (its content is " + damaged_ +
                                                           ") and is removed; " +
                                                           (fetched ? "the registry's copy" : "the copy being added"),
                                                       from_source);
    if (::fsync(copy.get()) < 0) throw_errno("syncing the layer blob");
    if (!blobs_.has(x.blob_digest)) added_blobs.insert(x.blob_digest);
    if (::rename(copy_path.c_str(), blobs_.path(x.blob_digest).c_str()) < 0) throw_errno("storing the layer blob");
    // Told once repaired: a copy as bad says it in the error instead.
    if (!damaged_.empty())
      tell(messages, "warning: layer blob " + l_.digest + " was damaged in the store (its content was " + damaged_ +
                         "); " + (fetched ? "fetched it again" : "stored the copy being added instead"));
    return x;
  }

 private:
  ExtractedLayer read(ByteSource& src, int copy_fd) {
    progress_.start(task_, have_tree_ ? "checking" : "unpacking", l_.size);
    ExtractOptions opts;
    opts.copy_fd = copy_fd;
    opts.lowers = lowers_;
    opts.on_progress = [&](uint64_t n) {
      if (in_.cancelled && in_.cancelled()) {
        interrupted_ = true;
        throw Error("interrupted");
      }
      progress_.update(task_, n);
    };
    return have_tree_ ? check_layer(src, want_, opts) : extract_layer(src, work_ / "tree", want_, opts);
  }

  const BlobStore& blobs_;
  const ImageInput& in_;
  const LayerInput& l_;
  LayerExpectation want_;
  std::string task_;
  bool have_tree_;
  stdfs::path work_;
  std::vector<stdfs::path> lowers_;
  Progress& progress_;
  bool interrupted_ = false;
  std::string damaged_;  ///< what the store's copy held instead, when it was damaged
};

}  // namespace

Image Store::import_rootfs(const stdfs::path& source, const Reference& name, const ImportOptions& opts,
                           const PinnedLayers& pinned) {
  return with_context("importing " + quote(source.string()) + " as " + quote(name.str()), [&] {
    check_utf8(opts.config);
    FileLock store_lock = lock_shared();
    remove_abandoned_work(root_ / "tmp");
    WorkDir work(root_ / "tmp", "import");
    stdfs::path tree = work.path() / "tree";
    // Importing "/" must not take in crt's own images and pods.
    UnpackedLayer layer = unpack_rootfs(source, tree, opts.cancelled, messages_, {root_.parent_path(), root_});
    if (opts.share_with) share_host_files(tree, *opts.share_with);

    Image im;
    im.created = opts.created.empty() ? now_rfc3339() : opts.created;
    std::string config_blob = json_text::dump(make_image_config(opts.config, {layer.diff_id}, im.created));
    im.id = sha256_digest(config_blob);
    im.layers = {layer.diff_id};
    im.size = layer.size;
    im.names = {name.str()};
    im.config = opts.config;
    im.stage1_source = opts.stage1_source;
    sync_fs_of(work.path());

    Commit commit;
    FileLock layer_lock = lock_layer(layer.diff_id, commit);
    stdfs::path final_tree = tree_path(layer.diff_id);
    if (!stdfs::exists(final_tree)) {
      if (::rename(tree.c_str(), final_tree.c_str()) < 0)
        throw_errno("moving the layer into " + quote(final_tree.string()));
      commit.added_trees.insert(layer.diff_id);
    }
    try {
      if (blobs_.put(im.id, config_blob)) commit.added_blobs.insert(im.id);
      sync_additions();
      update_index([&](std::vector<Image>& images) { name_image(images, im); });
    } catch (...) {
      // A full disk, say: what this import moved in goes again. The layer's
      // lock first: another import of it may hold the store's lock shared
      // while it waits for it.
      layer_lock = FileLock();
      store_lock = FileLock();
      roll_back(commit, pinned);
      throw;
    }
    return im;
  });
}

void Store::sync_additions() const {
  fs::sync_dir(root_ / "blobs" / "sha256");
  fs::sync_dir(root_ / "trees");
}

Store::Commit Store::begin_commit() const {
  Commit c;
  for (const auto& im : load_index()) {
    // Each manifest's layer blobs, one per layer in order.
    auto pair = [&](const std::vector<LayerBlob>& blobs) {
      for (size_t k = 0; k < im.layers.size() && k < blobs.size(); ++k)
        c.checked.emplace(blobs[k].digest, im.layers[k]);
    };
    pair(im.blobs);
    for (const auto& m : im.other_manifests) pair(m.blobs);
  }
  return c;
}

LayerBlob Store::add_layer(const ImageInput& in, size_t i, const std::vector<std::string>& layers, Progress& progress,
                           std::set<std::string>& seen, Commit& commit, uint64_t& size) {
  const LayerInput& l = in.layers[i];
  const std::string& diff_id = layers[i];
  std::string media = l.media_type;
  // An image may list a layer twice (BuildKit repeats the empty layer): its
  // tree is counted once.
  bool repeat = !seen.insert(diff_id).second;
  // One crt unpacks a layer, the others wait for its tree. Held for this
  // layer alone: two images of the same layers in another order would
  // otherwise each hold one the other waits for. (gc and image rm, which
  // remove trees, wait for the store's lock this commit holds shared.)
  FileLock layer_lock = lock_layer(diff_id, commit);
  stdfs::path tree = tree_path(diff_id);
  bool have_tree = stdfs::exists(tree);
  bool have_blob = !l.digest.empty() && blobs_.has(l.digest, l.size);
  std::string task = l.digest.empty() ? diff_id : l.digest;
  // Both there is not enough: the blob may be another layer's than the
  // diff_id says (a manifest and configuration that disagree), which an
  // image already pairing them, or a check, rules out.
  if (have_tree && have_blob && commit.checked.count({l.digest, diff_id})) {
    // A docker archive's layer comes without either: its blob has them.
    if (media.empty()) media = layer_media_type(blobs_.path(l.digest));
    int64_t blob_size = l.size >= 0 ? l.size : static_cast<int64_t>(stdfs::file_size(blobs_.path(l.digest)));
    if (!repeat) size += tree_usage(tree).content;
    progress.finish(task, "exists");
    return {l.digest, media, blob_size};
  }
  // Named once, here: what is found under it says what is wrong without
  // naming the layer again. A layer without a blob digest (a docker
  // archive's) is named by its place: a wrong diff_id is said with it.
  std::string label = "layer " + std::to_string(i + 1) + (l.digest.empty() ? "" : " (" + l.digest + ")");
  return with_context(label, [&] {
    WorkDir work(root_ / "tmp", "unpack");
    // The tree is there but not the blob (a docker archive's layer comes
    // without its digest; another image has the layer from another blob),
    // or both but never paired: the blob is read, checked and kept, the
    // layer not unpacked again.
    LayerBlobReader::Target target{have_tree, work.path(), {}};
    if (!have_tree) target.lowers = tree_paths({layers.begin(), layers.begin() + static_cast<ptrdiff_t>(i)});
    LayerBlobReader blob(blobs_, in, l, {l.digest, l.size, diff_id}, task, std::move(target), progress);
    std::optional<ExtractedLayer> x;
    if (have_blob) x = blob.stored_copy();
    if (!x) x = blob.source_copy(commit.added_blobs, messages_);
    if (!have_tree) {
      sync_fs_of(work.path());
      if (::rename((work.path() / "tree").c_str(), tree.c_str()) < 0)
        throw_errno("moving the layer into " + quote(tree.string()));
      commit.added_trees.insert(diff_id);
    }
    commit.checked.emplace(x->blob_digest, diff_id);
    if (!repeat) size += have_tree ? tree_usage(tree).content : x->size;
    progress.finish(task, have_tree ? "exists" : "done");
    return LayerBlob{x->blob_digest, media.empty() ? x->media_type : media, static_cast<int64_t>(x->blob_size)};
  });
}

Image Store::store_image(const ImageInput& in, Progress& progress, Commit& commit) {
  Image im;
  im.id = sha256_digest(in.config);
  json config;
  try {
    config = json_text::parse(in.config);
  } catch (const json::exception& e) {
    throw Error("image configuration " + im.id + " is not JSON: " + e.what());
  }
  // What crt reads of it to run the image, checked before anything is
  // stored or named: an image crt cannot run takes no name from one it can.
  RunConfig run = parse_run_config(config);
  check_env(run);
  if (config.contains("created") && !config["created"].is_null() && !config["created"].is_string())
    throw Error("invalid image configuration: \"created\" is not a date (a string)");
  im.layers = oci::config_diff_ids(config);
  if (im.layers.size() != in.layers.size())
    throw Error("the image configuration lists " + std::to_string(im.layers.size()) + " layers, the manifest " +
                std::to_string(in.layers.size()));
  if (im.layers.empty()) throw Error("the image has no layers");
  im.created = config.contains("created") && config["created"].is_string() ? config["created"].get<std::string>() : "";
  std::set<std::string> seen;
  for (size_t i = 0; i < in.layers.size(); ++i)
    im.blobs.push_back(add_layer(in, i, im.layers, progress, seen, commit, im.size));
  if (blobs_.put(im.id, in.config)) commit.added_blobs.insert(im.id);
  std::string manifest = in.manifest;
  if (manifest.empty())
    manifest = synthesize_manifest(im.id, in.config.size(), im.blobs);
  else
    check_manifest_matches(manifest, im.id, im.blobs);
  im.manifest = sha256_digest(manifest);
  if (blobs_.put(im.manifest, manifest)) commit.added_blobs.insert(im.manifest);
  for (const auto& n : in.names) im.names.push_back(n.str());
  im.repo_digests = in.repo_digests;
  return im;
}

namespace {

/// How an error names an image being added: by its name, else by its
/// manifest's digest (a docker archive's has none: by its ID).
std::string image_label(const ImageInput& in) {
  if (!in.names.empty()) return "image " + quote(in.names.front().str());
  if (!in.manifest.empty()) return "image " + sha256_digest(in.manifest);
  return "image " + sha256_digest(in.config);
}

}  // namespace

Image Store::commit_image(const ImageInput& in, Progress& progress, const PinnedLayers& pinned, FileLock held) {
  FileLock store_lock = held.valid() ? std::move(held) : lock_shared();
  remove_abandoned_work(root_ / "tmp");
  Commit commit = begin_commit();
  Image im;
  try {
    im = store_image(in, progress, commit);
    sync_additions();
    update_index([&](std::vector<Image>& images) { name_image(images, im); });
  } catch (...) {
    store_lock = FileLock();
    roll_back(commit, pinned);
    throw;
  }
  load_config(im);
  for (const auto& w : env_warnings(im.config, image_label(in))) tell(messages_, w);
  return im;
}

std::vector<Image> Store::commit_images(const std::vector<ImageInput>& ins, Progress& progress,
                                        const PinnedLayers& pinned) {
  // Held until all are named: a gc would otherwise take the layers of those
  // stored but not yet named.
  FileLock store_lock = lock_shared();
  remove_abandoned_work(root_ / "tmp");
  Commit commit = begin_commit();
  std::vector<Image> out;
  try {
    for (const auto& in : ins)
      out.push_back(with_context(image_label(in), [&] { return store_image(in, progress, commit); }));
    sync_additions();
    update_index([&](std::vector<Image>& images) {
      for (size_t i = 0; i < out.size(); ++i) name_image(images, out[i], ins[i].replaced_names);
    });
  } catch (...) {
    store_lock = FileLock();
    roll_back(commit, pinned);
    throw;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    load_config(out[i]);
    for (const auto& w : env_warnings(out[i].config, image_label(ins[i]))) tell(messages_, w);
  }
  return out;
}

}  // namespace crt::store
