// Removing what no image uses.

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <set>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/digest.hpp"
#include "store/store.hpp"
#include "store/work_dir.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

/// How long a failed import's roll_back() waits for other crt commands to
/// let go of the store.
constexpr auto kRollBackPatience = std::chrono::seconds(2);

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

namespace {

/// The trees and blobs (by hex digest) the images and pods use.
struct InUse {
  std::set<std::string> trees;
  std::set<std::string> blobs;
};

InUse in_use(const std::vector<Image>& images, const Pins& pins) {
  InUse u;
  for (const auto& l : pins.layers) u.trees.insert(digest_hex(l));
  for (const auto& im : images) {
    for (const auto& l : im.layers) u.trees.insert(digest_hex(l));
    for (const auto& b : im.blob_digests()) u.blobs.insert(digest_hex(b));
  }
  return u;
}

}  // namespace

GcResult Store::gc(const PinnedLayers& pinned) {
  // Exclusive: no import, pull or pod preparation is under way, so every
  // tree or blob in use is named below, and no partial blob is written to.
  FileLock lock = lock_exclusive();
  Pins pins = pinned ? pinned() : Pins{};
  InUse used = in_use(load_index(), pins);
  GcResult r;
  std::vector<std::unique_ptr<WorkDir>> detached;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(root_ / "trees", ec)) {
    std::string hex = de.path().filename();
    if (used.trees.count(hex)) continue;
    if (pins.unknown) {
      ++r.trees_kept;
      continue;
    }
    if (auto t = detach_tree(hex)) detached.push_back(std::move(t));
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "blobs" / "sha256", ec)) {
    std::string hex = de.path().filename();
    if (used.blobs.count(hex)) continue;
    r.bytes += tree_usage(de.path()).disk;
    if (::unlink(de.path().c_str()) < 0) throw_errno("removing " + quote(de.path().string()));
    ++r.blobs;
  }
  for (const auto& de : stdfs::directory_iterator(root_ / "tmp", ec)) {
    if (de.path().extension() != ".partial") continue;
    r.bytes += tree_usage(de.path()).disk;
    ++r.tmp;
    ::unlink(de.path().c_str());
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
  // The files of trees go once no other crt waits for them, as does the
  // work of interrupted commands (the work of live ones is locked).
  lock = FileLock();
  Removed trees = remove_detached(std::move(detached));
  r.trees += trees.count;
  r.bytes += trees.bytes;
  Removed work = remove_abandoned_work(root_ / "tmp");
  r.tmp += work.count;
  r.bytes += work.bytes;
  keep_reserve_unless_busy();  // detach_tree() may have spent it
  // A tree that could not be removed is tried again as abandoned work: said once.
  r.failed = std::move(work.failed);
  return r;
}

void Store::roll_back(const Commit& commit, const PinnedLayers& pinned) const {
  if (commit.added_trees.empty() && commit.added_blobs.empty() && commit.locks.empty()) return;
  // The caller's own hold would keep this process's exclusive lock from it
  // as another's would (set_callers_lock()).
  if (callers_lock_ != nullptr && callers_lock_->valid()) {
    deferred_rollbacks_.emplace_back(commit, pinned);
    return;
  }
  roll_back_unlocked(commit, pinned);
}

void Store::roll_back_deferred() noexcept {
  try {
    for (const auto& [commit, pinned] : deferred_rollbacks_) roll_back_unlocked(commit, pinned);
  } catch (const std::exception& e) {
    tell(messages_,
         std::string("warning: the layers and blobs a failed import or pull stored stay until 'crt image gc': ") +
             e.what());
  }
  deferred_rollbacks_.clear();
}

void Store::roll_back_unlocked(const Commit& commit, const PinnedLayers& pinned) const {
  try {
    // Another crt's pod start holds the lock shared for a moment; a pull or
    // an import for as long as it takes: the error waits for the former only.
    const LockWait& wait = blobs_.lock_wait();
    auto until = std::chrono::steady_clock::now() + kRollBackPatience;
    LockWait briefly{{},
                     [&] { return std::chrono::steady_clock::now() > until || (wait.cancelled && wait.cancelled()); }};
    FileLock lock;
    try {
      lock = FileLock::acquire(root_ / "lock", FileLock::Mode::kExclusive, briefly, "other crt commands");
    } catch (const Error&) {
      // Lock files alone are no news: every import leaves them until a gc.
      if (!commit.added_trees.empty() || !commit.added_blobs.empty())
        tell(messages_,
             "warning: other crt commands are using the store: the layers and blobs the failed "
             "import or pull stored stay until 'crt image gc'");
      return;
    }
    for (const auto& name : commit.locks) ::unlink((root_ / "locks" / name).c_str());
    Pins pins = pinned ? pinned() : Pins{};
    InUse used = in_use(load_index(), pins);
    size_t kept = 0;
    std::vector<std::unique_ptr<WorkDir>> detached;
    for (const auto& l : commit.added_trees) {
      if (used.trees.count(digest_hex(l))) continue;
      if (pins.unknown)
        ++kept;
      else if (auto t = detach_tree(digest_hex(l)))
        detached.push_back(std::move(t));
    }
    if (kept > 0)
      tell(messages_,
           "warning: " +
               (kept == 1 ? std::string("the layer the failed import or pull unpacked stays")
                          : "the " + std::to_string(kept) + " layers the failed import or pull unpacked stay") +
               " until 'crt image gc': a pod whose pod.json cannot be read may use " + (kept == 1 ? "it" : "them"));
    for (const auto& b : commit.added_blobs) {
      stdfs::path p = blobs_.path(b);
      if (!used.blobs.count(digest_hex(b)) && ::unlink(p.c_str()) < 0 && errno != ENOENT)
        throw_errno("removing " + quote(p.string()));
    }
    lock = FileLock();
    Removed trees = remove_detached(std::move(detached));
    keep_reserve_unless_busy();  // detach_tree() may have spent it
    if (!trees.failed.empty()) throw Error(trees.failed.front());
  } catch (const Error& e) {
    tell(messages_,
         std::string("warning: the layers and blobs the failed import or pull stored stay until 'crt image gc': ") +
             e.what());
  }
}

}  // namespace crt::store
