// Removing what no image uses.

#include <sys/stat.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/digest.hpp"
#include "store/store.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

namespace {

uint64_t disk_usage(const stdfs::path& p) {
  uint64_t total = 0;
  std::error_code ec;
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return total;
  for (stdfs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
    if (::lstat(it->path().c_str(), &st) == 0 && st.st_nlink == 1) total += static_cast<uint64_t>(st.st_blocks) * 512;
  return total;
}

}  // namespace

GcResult Store::gc(const PinnedLayers& pinned) {
  // Exclusive: no import, pull or pod preparation is under way, so nothing
  // in tmp/ is in use and every tree or blob in use is named below.
  FileLock lock = lock_exclusive();
  std::vector<Image> images = load_index();
  std::set<std::string> trees_used;
  std::set<std::string> blobs_used;
  if (pinned)
    for (const auto& l : pinned()) trees_used.insert(digest_hex(l));
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
    r.bytes += disk_usage(de.path());
    drop_tree(hex);
    ++r.trees;
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "blobs" / "sha256", ec)) {
    std::string hex = de.path().filename();
    if (blobs_used.count(hex)) continue;
    r.bytes += disk_usage(de.path());
    if (::unlink(de.path().c_str()) < 0) throw_errno("removing " + quote(de.path().string()));
    ++r.blobs;
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "tmp", ec)) {
    if (de.path().extension() != ".lock") {
      r.bytes += disk_usage(de.path());
      ++r.tmp;
    }
    fs::remove_tree(de.path());
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "locks", ec)) ::unlink(de.path().c_str());
  // The index's temporary copy, left by a writer killed before its rename
  // (those of blobs are not named above, so they went with the blobs).
  for (const auto& de : stdfs::directory_iterator(root_, ec)) {
    if (de.path().filename().string().rfind(".index.json.", 0) != 0) continue;
    r.bytes += disk_usage(de.path());
    ++r.tmp;
    ::unlink(de.path().c_str());
  }
  return r;
}

}  // namespace crt::store
