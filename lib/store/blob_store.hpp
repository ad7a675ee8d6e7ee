#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "common/lock.hpp"
#include "store/digest.hpp"

namespace crt::store {

/// The blobs of a store: `blobs/sha256/<hex>`, each written in `tmp/` and
/// renamed into place once its digest is checked, so a blob that exists is
/// always complete and correct. A rename into place is durable once the
/// directory is synced, which the Store does before an image names the blob.
class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path store_root);

  [[nodiscard]] std::filesystem::path path(std::string_view digest) const;
  [[nodiscard]] bool has(std::string_view digest) const;
  /// Whether the store has the blob with `size` bytes (any, when `size` is
  /// -1): one of another size is damaged (cut short, say), as good as
  /// missing, and replaced when it is stored again.
  [[nodiscard]] bool has(std::string_view digest, int64_t size) const;
  /// Stores `data` after checking that it is `digest`; a stored blob that
  /// no longer matches its digest is replaced. Returns whether the store
  /// lacked it.
  bool put(std::string_view digest, std::string_view data) const;
  /// Reads a blob of at most `limit` bytes, checking its digest.
  [[nodiscard]] std::string get(std::string_view digest, size_t limit) const;

  /// Takes the blob `digest` out of the store: `fd`, open on it, was read
  /// and its content is not that digest. A copy stored since (a checked
  /// one, as every copy is) stays. Returns whether the damaged blob is out
  /// of the store (false: a copy stored since stays).
  ///
  /// Safe beside every other user of the store, under its lock held shared:
  /// a damaged blob holds nothing worth keeping, and one missing is stored
  /// again by the next import (from its source) or pull (a BlobWriter
  /// fetches what the store lacks) of an image that has it, even of one
  /// whose image pairs it with its tree already, which would otherwise
  /// trust it unread forever. An import or pull that trusted it a moment
  /// before names an image whose blob is then missing: the same state,
  /// repaired the same way, and no worse than an image named with a damaged
  /// blob. A pull's partial download is a file of its own, untouched; a
  /// pod uses trees alone.
  bool remove_damaged(std::string_view digest, int fd) const;

  /// Reads the stored blob `digest` whole and returns its content's
  /// digest: `digest` when it is intact, empty when the store lacks it.
  /// One of another content is damaged: it is taken out of the store
  /// (remove_damaged()).
  [[nodiscard]] std::string check_stored(std::string_view digest) const;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

  /// What a writer does while another process writes the same blob.
  void set_lock_wait(LockWait wait) { lock_wait_ = std::move(wait); }
  [[nodiscard]] const LockWait& lock_wait() const { return lock_wait_; }

 private:
  /// Whether the stored blob `digest` is intact (`data`, already checked, is it).
  [[nodiscard]] bool holds(std::string_view digest, std::string_view data) const;

  std::filesystem::path root_;
  LockWait lock_wait_;
};

/// Writes one blob of known digest, resumably: what an interrupted writer
/// left in `tmp/blob-<hex>.partial` is kept (and hashed again) and writing
/// goes on from there; left complete, it is stored at once (done()) or, if
/// wrong, forgotten. Holds `locks/blob-<hex>` so that two processes never
/// write the same blob; the second finds it done. Errors do not name the
/// blob: the caller does.
class BlobWriter {
 public:
  BlobWriter(const BlobStore& store, std::string digest, int64_t size);
  /// Removes the partial file unless it holds something to resume.
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  /// The blob is in the store already, of its size (nothing to write).
  [[nodiscard]] bool done() const { return done_; }
  /// Bytes already written (by this writer or an interrupted one).
  [[nodiscard]] uint64_t offset() const { return offset_; }
  /// The size the blob must have; -1 when not known beforehand.
  [[nodiscard]] int64_t size() const { return size_; }
  void write(const void* data, size_t n);
  /// Forgets what was written; starts again from byte 0.
  void restart();
  /// Checks the digest and size and moves the blob into place; on a mismatch
  /// what was written is forgotten (as by restart()) and crt::Error thrown.
  void commit();
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  /// Moves what was written, checked, into place.
  void store_written();

  const BlobStore& store_;
  std::string digest_;
  int64_t size_;
  std::filesystem::path partial_;
  FileLock lock_;
  UniqueFd fd_;
  Sha256 hash_;
  uint64_t offset_ = 0;
  bool done_ = false;
};

}  // namespace crt::store
