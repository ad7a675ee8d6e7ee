#include "store/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/state_dir.hpp"
#include "store/digest.hpp"
#include "store/whiteout.hpp"
#include "store/work_dir.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;
using nlohmann::json;

// Absolute: layers are unpacked with the working directory inside the tree.
Store::Store(stdfs::path dir) : root_(stdfs::absolute(std::move(dir)) / "store"), blobs_(root_) {
  with_context("opening the image store " + quote(root_.string()), [&] {
    // Root's alone, as the pods' directories are: the trees hold images'
    // files as they are, setuid-root programs and device nodes included,
    // which any user could otherwise reach and run; and pulled images may be
    // private. A store made before this was open to all: it is closed.
    make_state_subdir(root_.parent_path(), root_.filename().string(), 0700);
    struct stat st {};
    if (::stat(root_.c_str(), &st) < 0) throw_errno("reading " + quote(root_.string()));
    if ((st.st_mode & 077) != 0 && ::chmod(root_.c_str(), 0700) < 0)
      throw_errno("closing " + quote(root_.string()) + " to all but root");
    fs::make_dirs(root_ / "blobs" / "sha256");
    fs::make_dirs(root_ / "trees");
    fs::make_dirs(root_ / "tmp");
    fs::make_dirs(root_ / "locks");
  });
}

FileLock Store::lock_shared() const {
  return FileLock::acquire(root_ / "lock", FileLock::Mode::kShared, blobs_.lock_wait(),
                           "another crt removing images from the store");
}

FileLock Store::lock_exclusive() const {
  FileLock lock = FileLock::acquire(root_ / "lock", FileLock::Mode::kExclusive, blobs_.lock_wait(),
                                    "other crt commands using the store to finish");
  // A store an older crt made has none until then.
  keep_reserve();
  return lock;
}

FileLock Store::lock_layer(const std::string& diff_id, Commit& commit) const {
  std::string name = "layer-" + digest_hex(diff_id);
  commit.locks.insert(name);
  return FileLock::acquire(root_ / "locks" / name, FileLock::Mode::kExclusive, blobs_.lock_wait(),
                           "another crt unpacking layer " + diff_id.substr(0, 19));
}

void Store::set_lock_wait(LockWait wait) { blobs_.set_lock_wait(std::move(wait)); }

namespace {

/// The images of the index `p` (none when there is none yet).
std::vector<Image> read_index(const stdfs::path& p) {
  if (!stdfs::exists(p)) return {};
  try {
    json j = json_text::parse(fs::read_file(p));
    return j.at("images").get<std::vector<Image>>();
  } catch (const json::exception& e) {
    throw Error("reading the image index " + quote(p.string()) + ": " + e.what());
  }
}

}  // namespace

std::vector<Image> Store::load_index() const { return read_index(root_ / "index.json"); }

std::map<std::string, std::string> image_names(const stdfs::path& dir) {
  std::map<std::string, std::string> out;
  // Written whole (renamed into place): read without the store's lock.
  std::vector<Image> images;
  try {
    images = read_index(stdfs::absolute(dir) / "store" / "index.json");
  } catch (const Error&) {
    return out;  // the image commands say so
  }
  for (const auto& im : images)
    for (const auto& n : im.names) out[n] = im.id;
  return out;
}

void Store::save_index(const std::vector<Image>& images) const {
  json j = {{"version", 1}, {"images", images}};
  fs::write_file_atomic(root_ / "index.json", json_text::dump(j, 2) + "\n");
}

void Store::update_index(const std::function<void(std::vector<Image>&)>& change) const {
  FileLock lock = FileLock::acquire(root_ / "index.lock", FileLock::Mode::kExclusive);
  std::vector<Image> images = load_index();
  change(images);
  // What an image kept for a name or repo digest it no longer has (taken
  // by another image, or removed) goes with it.
  for (auto& im : images) im.forget_unnamed();
  save_index(images);
  keep_reserve();
}

void Store::keep_reserve() const noexcept {
  constexpr off_t kReserveMin = 1 << 20;
  struct stat index {};
  off_t want =
      ::stat((root_ / "index.json").c_str(), &index) == 0 ? std::max(kReserveMin, 2 * index.st_size) : kReserveMin;
  UniqueFd fd(::open((root_ / "reserve").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) < 0 || st.st_size >= want) return;
  // Allocated, not sparse: its blocks are what a removal gets back. On a
  // disk too full for it, it is only as big as it was.
  if (::posix_fallocate(fd.get(), 0, want) != 0) (void)::ftruncate(fd.get(), st.st_size);
}

void Store::keep_reserve_unless_busy() const noexcept {
  try {
    FileLock lock = FileLock::try_acquire(root_ / "lock", FileLock::Mode::kExclusive);
    if (lock.valid()) keep_reserve();
  } catch (const std::exception&) {
    // No reserve for now: the next index update makes it.
  }
}

void Store::spending_reserve(const std::function<void()>& f) const {
  try {
    f();
  } catch (const SystemError& e) {
    if ((e.code() != ENOSPC && e.code() != EDQUOT) || ::unlink((root_ / "reserve").c_str()) < 0) throw;
    f();
  }
}

stdfs::path Store::tree_path(std::string_view diff_id) const { return root_ / "trees" / digest_hex(diff_id); }

std::vector<stdfs::path> Store::tree_paths(const std::vector<std::string>& layers) const {
  std::vector<stdfs::path> out;
  for (const auto& l : layers) {
    stdfs::path tree = tree_path(l);
    // A layer whose root is opaque hides every layer below it (OCI), which
    // overlayfs would not do for the root of a lower directory: they are
    // left out.
    if (is_overlay_opaque(tree)) out.clear();
    out.push_back(std::move(tree));
  }
  return out;
}

std::string Store::config_blob(const Image& im) const {
  return with_context("reading the configuration of image " + im.id, [&] { return blobs_.get(im.id, 16 << 20); });
}

void Store::load_config(Image& im) const {
  std::string blob = config_blob(im);
  try {
    im.config = parse_run_config(json_text::parse(blob));
  } catch (const json::exception& e) {
    throw Error("reading the configuration of image " + im.id + ": " + e.what());
  }
}

namespace {

/// Whether the image's ID begins with the hex digits `prefix`.
bool id_begins_with(const Image& im, std::string_view prefix) { return im.id.compare(7, prefix.size(), prefix) == 0; }

struct Match {
  long index = -1;
  bool by_name = false;
  std::string key;  ///< the name ("name:tag") or repo digest it was found by; empty: by ID
};

/// The image `ref` designates (index -1: none). Throws if a prefix is ambiguous.
Match lookup(const std::vector<Image>& images, std::string_view ref) {
  if (ref.find('@') != std::string_view::npos) {
    for (size_t i = 0; i < images.size(); ++i)
      if (std::find(images[i].repo_digests.begin(), images[i].repo_digests.end(), ref) != images[i].repo_digests.end())
        return {static_cast<long>(i), false, std::string(ref)};
    return {};
  }
  // A name first, then an ID prefix (as docker looks them up): an image
  // named like a prefix of another's ID is found by its name.
  bool is_id = ref.rfind("sha256:", 0) == 0;
  std::optional<std::string> name;
  std::optional<Error> not_a_name;
  if (!is_id) {
    try {
      name = parse_reference(ref).str();
    } catch (const Error& e) {
      not_a_name = e;
      // A name stored before the rules for new ones grew stricter ("a___b")
      // is still found, as it was written.
      std::string literal(ref);
      size_t slash = literal.rfind('/');
      size_t colon = literal.rfind(':');
      if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) literal += ":latest";
      for (size_t i = 0; i < images.size(); ++i)
        if (std::find(images[i].names.begin(), images[i].names.end(), literal) != images[i].names.end())
          return {static_cast<long>(i), true, literal};
    }
  }
  if (name)
    for (size_t i = 0; i < images.size(); ++i)
      if (std::find(images[i].names.begin(), images[i].names.end(), *name) != images[i].names.end())
        return {static_cast<long>(i), true, *name};
  std::string_view id = ref;
  if (is_id) id.remove_prefix(7);
  if (id.size() >= 4 && is_lower_hex(id)) {
    long found = -1;
    for (size_t i = 0; i < images.size(); ++i) {
      if (id_begins_with(images[i], id)) {
        if (found >= 0 && id.size() < 64) throw Error("image id prefix " + quote(ref) + " is ambiguous");
        found = static_cast<long>(i);
      }
    }
    if (found >= 0) return {found, false, {}};
  }
  if (not_a_name) throw *not_a_name;
  return {};
}

Error no_image_error(const std::vector<Image>& images, std::string_view ref, std::string_view more) {
  std::string msg = "no image " + quote(ref) + " in the store";
  // Then `more` (how to get one) is beside the point.
  std::string_view id = ref.rfind("sha256:", 0) == 0 ? ref.substr(7) : ref;
  if (!id.empty() && id.size() < 4 && is_lower_hex(id))
    for (const auto& im : images)
      if (id_begins_with(im, id))
        return Error(msg + " (an image ID prefix needs at least 4 hex digits, as in " + quote(im.id.substr(7, 4)) +
                     ")");
  return Error(msg + std::string(more));
}

}  // namespace

Error Store::no_image(std::string_view ref, std::string_view more) const {
  return no_image_error(load_index(), ref, more);
}

std::optional<Image> Store::find(std::string_view ref) const {
  std::vector<Image> images = load_index();
  Match m = lookup(images, ref);
  if (m.index < 0) return std::nullopt;
  Image im = images[static_cast<size_t>(m.index)];
  // A name or repo digest gives the manifest it was added by; an ID, the
  // image's first.
  if (!m.key.empty()) im.select_manifest(im.manifest_of(m.key));
  load_config(im);
  return im;
}

bool Store::has_image(std::string_view ref) const { return lookup(load_index(), ref).index >= 0; }

std::vector<Image> Store::list() const {
  std::vector<Image> images = load_index();
  for (auto& im : images) {
    try {
      load_config(im);
    } catch (const Error& e) {
      std::string names;
      for (const auto& n : im.names) names += (names.empty() ? " (" : ", ") + n;
      if (!names.empty()) names += ")";
      tell(messages_, "warning: image " + im.id + names + " is damaged, listed without its configuration: " + e.what() +
                          "; import or pull it again, or remove it");
    }
  }
  return images;
}

std::unique_ptr<WorkDir> Store::detach_tree(const std::string& hex) const {
  stdfs::path t = root_ / "trees" / hex;
  if (!stdfs::exists(t)) return nullptr;
  return with_context("removing layer tree " + quote(t.string()), [&]() -> std::unique_ptr<WorkDir> {
    // Renamed over an empty work directory of a name of its own, so that
    // two removals never meet, and a half-removed tree is never mistaken
    // for a layer.
    std::unique_ptr<WorkDir> work;
    spending_reserve([&] { work = std::make_unique<WorkDir>(root_ / "tmp", "rm-" + hex); });
    if (::rename(t.c_str(), work->path().c_str()) < 0) {
      if (errno == ENOENT) return nullptr;
      throw_errno("moving it to " + quote(work->path().string()));
    }
    return work;
  });
}

namespace {

bool only_a_name(const std::vector<Image>& images, const Match& m) {
  return m.index >= 0 && m.by_name && images[static_cast<size_t>(m.index)].names.size() > 1;
}

}  // namespace

bool Store::removes_only_a_name(std::string_view ref) const {
  std::vector<Image> images = load_index();
  return only_a_name(images, lookup(images, ref));
}

Removal Store::remove(std::string_view ref, const PinnedLayers& pinned,
                      const std::function<void(const Image&)>& before_whole) {
  FileLock lock = lock_exclusive();
  std::vector<std::unique_ptr<WorkDir>> detached;
  Removal r;
  Image& removed = r.image;
  bool whole = false;
  auto change = [&](std::vector<Image>& images) {
    Match m = lookup(images, ref);
    if (m.index < 0) throw no_image_error(images, ref, "");
    auto i = static_cast<size_t>(m.index);
    removed = images[i];
    if (only_a_name(images, m)) {
      std::erase(images[i].names, m.key);
      removed.names = {m.key};
      return;
    }
    if (before_whole) before_whole(removed);
    images.erase(images.begin() + m.index);
    whole = true;
  };
  // On a full disk, where images are removed, the new index is written in
  // the reserve's room.
  spending_reserve([&] { update_index(change); });
  if (!whole) return r;

  std::vector<Image> images = load_index();
  Pins pins = pinned ? pinned() : Pins{};
  std::set<std::string> layers_used = std::move(pins.layers);
  std::set<std::string> blobs_used;
  for (const auto& im : images) {
    layers_used.insert(im.layers.begin(), im.layers.end());
    for (auto& b : im.blob_digests()) blobs_used.insert(std::move(b));
  }
  for (const auto& l : std::set<std::string>(removed.layers.begin(), removed.layers.end())) {
    if (layers_used.count(l)) continue;
    if (pins.unknown) {
      ++r.trees_kept;
      continue;
    }
    try {
      if (auto t = detach_tree(digest_hex(l))) detached.push_back(std::move(t));
    } catch (const Error& e) {
      r.trees_failed.emplace_back(e.what());  // the image is out of the index: its blobs go too
    }
  }
  for (const auto& b : removed.blob_digests()) {
    if (blobs_used.count(b)) continue;
    uint64_t bytes = tree_usage(blobs_.path(b)).disk;
    if (::unlink(blobs_.path(b).c_str()) == 0) r.bytes += bytes;
  }
  lock = FileLock();  // no other crt waits for the trees' files to go
  Removed trees = remove_detached(std::move(detached));
  r.bytes += trees.bytes;
  for (auto& why : trees.failed) r.trees_failed.push_back(std::move(why));
  // And what removals that were cut short left.
  remove_abandoned_work(root_ / "tmp");
  keep_reserve_unless_busy();
  return r;
}

}  // namespace crt::store
