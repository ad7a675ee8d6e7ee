#include "store/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/digest.hpp"
#include "store/layer_import.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;
using nlohmann::json;

Store::Store(stdfs::path dir) : root_(std::move(dir) / "store") {
  with_context("opening the image store " + quote(root_.string()), [&] {
    fs::make_dirs(root_ / "blobs" / "sha256");
    fs::make_dirs(root_ / "trees");
    fs::make_dirs(root_ / "tmp");
  });
}

FileLock Store::lock_shared() const { return FileLock::acquire(root_ / "lock", FileLock::Mode::kShared); }
FileLock Store::lock_exclusive() const { return FileLock::acquire(root_ / "lock", FileLock::Mode::kExclusive); }

std::vector<Image> Store::load_index() const {
  stdfs::path p = root_ / "index.json";
  if (!stdfs::exists(p)) return {};
  try {
    json j = json::parse(fs::read_file(p));
    return j.at("images").get<std::vector<Image>>();
  } catch (const json::exception& e) {
    throw Error("reading the image index " + quote(p.string()) + ": " + e.what());
  }
}

void Store::save_index(const std::vector<Image>& images) const {
  json j = {{"version", 1}, {"images", images}};
  fs::write_file_atomic(root_ / "index.json", j.dump(2) + "\n");
}

stdfs::path Store::tree_path(std::string_view diff_id) const { return root_ / "trees" / digest_hex(diff_id); }

std::vector<stdfs::path> Store::tree_paths(const Image& im) const {
  std::vector<stdfs::path> out;
  for (const auto& l : im.layers) out.push_back(tree_path(l));
  return out;
}

void Store::load_config(Image& im) const {
  stdfs::path p = root_ / "blobs" / "sha256" / digest_hex(im.id);
  std::string blob = fs::read_file(p);
  if (sha256_digest(blob) != im.id) throw Error("the configuration of image " + im.id + " is corrupt");
  try {
    im.config = parse_run_config(json::parse(blob));
  } catch (const json::exception& e) {
    throw Error("reading the configuration of image " + im.id + ": " + e.what());
  }
}

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct Match {
  long index = -1;
  bool by_name = false;
};

/// The image `ref` designates (index -1: none). Throws if a prefix is ambiguous.
Match lookup(const std::vector<Image>& images, std::string_view ref) {
  std::string_view id = ref;
  if (id.rfind("sha256:", 0) == 0) id.remove_prefix(7);
  if (id.size() >= 4 && is_hex(id)) {
    long found = -1;
    for (size_t i = 0; i < images.size(); ++i) {
      if (images[i].id.compare(7, id.size(), id) == 0) {
        if (found >= 0 && id.size() < 64) throw Error("image id prefix " + quote(ref) + " is ambiguous");
        found = static_cast<long>(i);
      }
    }
    if (found >= 0) return {found, false};
  }
  if (ref.rfind("sha256:", 0) == 0) return {};
  std::string name = parse_reference(ref).str();
  for (size_t i = 0; i < images.size(); ++i)
    if (std::find(images[i].names.begin(), images[i].names.end(), name) != images[i].names.end())
      return {static_cast<long>(i), true};
  return {};
}

}  // namespace

std::optional<Image> Store::find(std::string_view ref) const {
  FileLock lock = lock_shared();
  std::vector<Image> images = load_index();
  Match m = lookup(images, ref);
  if (m.index < 0) return std::nullopt;
  Image im = images[static_cast<size_t>(m.index)];
  load_config(im);
  return im;
}

std::vector<Image> Store::list() const {
  FileLock lock = lock_shared();
  std::vector<Image> images = load_index();
  for (auto& im : images) load_config(im);
  return images;
}

void Store::remove_stale_tmp() const {
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(root_ / "tmp", ec)) {
    if (de.path().extension() == ".lock") continue;
    stdfs::path lockfile = de.path().string() + ".lock";
    FileLock l = FileLock::try_acquire(lockfile, FileLock::Mode::kExclusive);
    if (!l.valid()) continue;  // an import in progress
    fs::remove_tree(de.path());
    ::unlink(lockfile.c_str());
  }
}

Image Store::import_rootfs(const stdfs::path& source, const Reference& name, const ImportOptions& opts) {
  return with_context("importing " + quote(source.string()) + " as " + quote(name.str()), [&] {
    remove_stale_tmp();
    fs::TempDir work(root_ / "tmp" / "import");
    FileLock work_lock = FileLock::acquire(work.path().string() + ".lock", FileLock::Mode::kExclusive);
    struct LockFileRemover {
      stdfs::path p;
      ~LockFileRemover() { ::unlink(p.c_str()); }
    } remover{work.path().string() + ".lock"};

    stdfs::path tree = work.path() / "tree";
    UnpackedLayer layer = unpack_rootfs(source, tree);

    Image im;
    im.created = opts.created.empty() ? now_rfc3339() : opts.created;
    std::string config_blob = make_image_config(opts.config, {layer.diff_id}, im.created).dump();
    im.id = sha256_digest(config_blob);
    im.layers = {layer.diff_id};
    im.size = layer.size;
    im.names = {name.str()};
    im.config = opts.config;
    fs::write_file_atomic(work.path() / "config", config_blob);

    // Durable before it becomes visible: a crash leaves either nothing or a
    // complete image.
    {
      UniqueFd fd = fs::open_fd(work.path(), O_RDONLY | O_DIRECTORY);
      if (::syncfs(fd.get()) < 0) throw_errno("syncing " + quote(work.path().string()));
    }

    FileLock lock = lock_exclusive();
    std::vector<Image> images = load_index();
    stdfs::path final_tree = tree_path(layer.diff_id);
    if (!stdfs::exists(final_tree) && ::rename(tree.c_str(), final_tree.c_str()) < 0)
      throw_errno("moving the layer into " + quote(final_tree.string()));
    stdfs::path blob = root_ / "blobs" / "sha256" / digest_hex(im.id);
    if (!stdfs::exists(blob) && ::rename((work.path() / "config").c_str(), blob.c_str()) < 0)
      throw_errno("storing the image configuration");

    for (auto& other : images) std::erase(other.names, im.names[0]);
    auto same = std::find_if(images.begin(), images.end(), [&](const Image& o) { return o.id == im.id; });
    if (same != images.end())
      same->names.push_back(im.names[0]);
    else
      images.push_back(im);
    save_index(images);
    return im;
  });
}

Image Store::remove(std::string_view ref) {
  FileLock lock = lock_exclusive();
  std::vector<Image> images = load_index();
  Match m = lookup(images, ref);
  if (m.index < 0) throw Error("no image " + quote(ref) + " in the store");
  auto i = static_cast<size_t>(m.index);
  Image removed = images[i];
  if (m.by_name && removed.names.size() > 1) {
    std::erase(images[i].names, parse_reference(ref).str());
    save_index(images);
    removed.names = {parse_reference(ref).str()};
    return removed;
  }
  images.erase(images.begin() + m.index);
  save_index(images);

  std::set<std::string> still_used;
  for (const auto& im : images) still_used.insert(im.layers.begin(), im.layers.end());
  for (const auto& l : removed.layers) {
    if (still_used.count(l)) continue;
    stdfs::path t = tree_path(l);
    // Rename first so a half-removed tree is never mistaken for a layer.
    stdfs::path doomed = root_ / "tmp" / ("rm-" + digest_hex(l));
    if (::rename(t.c_str(), doomed.c_str()) == 0) fs::remove_tree(doomed);
  }
  ::unlink((root_ / "blobs" / "sha256" / digest_hex(removed.id)).c_str());
  return removed;
}

}  // namespace crt::store
