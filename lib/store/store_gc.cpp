// Removing what no image uses.

#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/digest.hpp"
#include "store/store.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

TreeUsage tree_usage(const stdfs::path& path) {
  TreeUsage u;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto add = [&](const stdfs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) < 0) return false;
    // A file of several links is counted at the first of them.
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) return false;
    u.disk += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISREG(st.st_mode)) u.content += static_cast<uint64_t>(st.st_size);
    return S_ISDIR(st.st_mode);
  };
  if (!add(path)) return u;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) add(it->path());
  return u;
}

GcResult Store::gc(const PinnedLayers& pinned) {
  // Exclusive: no import, pull or pod preparation is under way, so nothing
  // in tmp/ is in use and every tree or blob in use is named below.
  FileLock lock = lock_exclusive();
  std::vector<Image> images = load_index();
  Pins pins = pinned ? pinned() : Pins{};
  std::set<std::string> trees_used;
  std::set<std::string> blobs_used;
  for (const auto& l : pins.layers) trees_used.insert(digest_hex(l));
  for (const auto& im : images) {
    for (const auto& l : im.layers) trees_used.insert(digest_hex(l));
    blobs_used.insert(digest_hex(im.id));
    if (!im.manifest.empty()) blobs_used.insert(digest_hex(im.manifest));
    for (const auto& b : im.blobs) blobs_used.insert(digest_hex(b.digest));
  }
  GcResult r;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(root_ / "trees", ec)) {
    std::string hex = de.path().filename();
    if (trees_used.count(hex)) continue;
    if (pins.unknown) {
      ++r.trees_kept;
      continue;
    }
    r.bytes += tree_usage(de.path()).disk;
    drop_tree(hex);
    ++r.trees;
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "blobs" / "sha256", ec)) {
    std::string hex = de.path().filename();
    if (blobs_used.count(hex)) continue;
    r.bytes += tree_usage(de.path()).disk;
    if (::unlink(de.path().c_str()) < 0) throw_errno("removing " + quote(de.path().string()));
    ++r.blobs;
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "tmp", ec)) {
    if (de.path().extension() != ".lock") {
      r.bytes += tree_usage(de.path()).disk;
      ++r.tmp;
    }
    fs::remove_tree(de.path());
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "locks", ec)) ::unlink(de.path().c_str());
  // The index's temporary copy, left by a writer killed before its rename
  // (those of blobs are not named above, so they went with the blobs).
  for (const auto& de : stdfs::directory_iterator(root_, ec)) {
    if (de.path().filename().string().rfind(".index.json.", 0) != 0) continue;
    r.bytes += tree_usage(de.path()).disk;
    ++r.tmp;
    ::unlink(de.path().c_str());
  }
  return r;
}

}  // namespace crt::store
