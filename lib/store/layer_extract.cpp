#include "store/layer_extract.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/archive_util.hpp"
#include "store/chunk_queue.hpp"
#include "store/digest.hpp"
#include "store/oci.hpp"
#include "store/tree_writer.hpp"
#include "store/whiteout.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

namespace {

constexpr size_t kChunkSize = 1 << 20;
constexpr size_t kQueueChunks = 8;
constexpr size_t kReadSize = 256 * 1024;

/// The OCI layer media type of what reader `in` has opened (its first
/// header read), by its compression.
std::string media_type_of(archive* in) {
  switch (sym_archive_filter_code(in, 0)) {
    case ARCHIVE_FILTER_GZIP:
      return std::string(oci::kLayerGzip);
    case ARCHIVE_FILTER_ZSTD:
      return std::string(oci::kLayerZstd);
    default:
      return std::string(oci::kLayerTar);
  }
}

/// A reader of a layer blob as one stream: gzip, zstd or not compressed
/// (media_type_of() says which once its first header is read).
ArchivePtr new_blob_reader() {
  ArchivePtr in(sym_archive_read_new());
  if (!in) throw Error("allocating a libarchive reader");
  sym_archive_read_support_filter_gzip(in.get());
  sym_archive_read_support_filter_zstd(in.get());
  sym_archive_read_support_format_raw(in.get());
  return in;
}

/// A libarchive reader's input, given block by block by next_block(). What
/// that throws cannot go through libarchive (C): it is kept, and rethrown
/// once libarchive has returned.
class CallbackInput {
 protected:
  CallbackInput() = default;
  virtual ~CallbackInput() = default;
  CallbackInput(const CallbackInput&) = delete;
  CallbackInput& operator=(const CallbackInput&) = delete;

  /// The next block of input in *buf, and its size (0 at the end).
  virtual size_t next_block(const void** buf) = 0;

  /// Opens `in` on next_block(). The open reads the first block already: a
  /// failure of ours there comes first, not as libarchive's "read failed".
  void open_input(archive* in, const std::string& what) {
    int opened = sym_archive_read_open(in, this, nullptr, &CallbackInput::on_read, nullptr);
    rethrow();
    check_archive(in, opened, what);
  }

  void rethrow() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  static la_ssize_t on_read(archive* a, void* self_arg, const void** buf) {
    auto* self = static_cast<CallbackInput*>(self_arg);
    try {
      return static_cast<la_ssize_t>(self->next_block(buf));
    } catch (...) {
      self->error_ = std::current_exception();
      sym_archive_set_error(a, EIO, "read failed");
      return -1;
    }
  }

  std::exception_ptr error_;
};

/// The producer: reads the blob, hashes and copies it, decompresses it and
/// hashes the tar stream, filling the queue. Runs on its own thread.
class Decompressor : CallbackInput {
 public:
  Decompressor(ByteSource& src, ChunkQueue& queue, int copy_fd)
      : src_(src), queue_(queue), copy_fd_(copy_fd), buf_(kReadSize) {}

  void run() noexcept {
    try {
      decompress();
      queue_.close();
    } catch (...) {
      queue_.close(std::current_exception());
    }
  }

  std::string blob_digest() { return "sha256:" + blob_hash_.hex(); }
  std::string diff_id() { return "sha256:" + tar_hash_.hex(); }
  [[nodiscard]] uint64_t blob_size() const { return consumed_.load(); }
  [[nodiscard]] const std::string& media_type() const { return media_type_; }
  [[nodiscard]] const std::atomic<uint64_t>& consumed() const { return consumed_; }

 private:
  void decompress() {
    ArchivePtr in = new_blob_reader();
    open_input(in.get(), "reading " + src_.describe());
    archive_entry* e = nullptr;
    int rc = sym_archive_read_next_header(in.get(), &e);
    rethrow();
    media_type_ = media_type_of(in.get());
    std::optional<Chunk> out = queue_.take_empty();
    if (rc != ARCHIVE_EOF) {
      check_archive(in.get(), rc, "reading " + src_.describe());
      for (;;) {
        const void* block = nullptr;
        size_t n = 0;
        la_int64_t off = 0;
        rc = sym_archive_read_data_block(in.get(), &block, &n, &off);
        rethrow();
        if (rc == ARCHIVE_EOF) break;
        check_archive(in.get(), rc, "decompressing " + src_.describe());
        const char* p = static_cast<const char*>(block);
        tar_hash_.update(p, n);
        while (n > 0 && out) {
          size_t take = std::min(n, kChunkSize - out->size());
          out->insert(out->end(), p, p + take);
          p += take;
          n -= take;
          if (out->size() == kChunkSize) {
            if (!queue_.push(std::move(*out))) return;
            out = queue_.take_empty();
          }
        }
        if (!out) return;  // cancelled
      }
    }
    if (out && !out->empty()) queue_.push(std::move(*out));
    // The digest covers the whole blob, even bytes after the compressed stream.
    while (size_t n = src_.read(buf_.data(), buf_.size())) consume(buf_.data(), n);
  }

  void consume(const char* p, size_t n) {
    blob_hash_.update(p, n);
    if (copy_fd_ >= 0) fs::write_all(copy_fd_, {p, n}, "keeping the layer blob");
    consumed_.fetch_add(n);
  }

  size_t next_block(const void** buf) override {
    size_t n = src_.read(buf_.data(), buf_.size());
    consume(buf_.data(), n);
    *buf = buf_.data();
    return n;
  }

  ByteSource& src_;
  ChunkQueue& queue_;
  int copy_fd_;
  std::vector<char> buf_;
  Sha256 blob_hash_;
  Sha256 tar_hash_;
  std::atomic<uint64_t> consumed_{0};
  std::string media_type_;
};

/// The consumer: reads the tar from the queue and writes it into the tree.
class LayerReader : CallbackInput {
 public:
  LayerReader(ChunkQueue& queue, const stdfs::path& dest, const std::vector<stdfs::path>& lowers,
              std::function<void()> tick)
      : queue_(queue),
        tick_(std::move(tick)),
        root_(fs::open_fd(dest, O_RDONLY | O_DIRECTORY)),
        tree_(root_.get(), lowers),
        in_(sym_archive_read_new()) {
    if (!in_) throw Error("allocating a libarchive reader");
    sym_archive_read_support_format_tar(in_.get());
    sym_archive_read_support_format_gnutar(in_.get());
  }

  uint64_t run() {
    open_input(in_.get(), "reading the layer");
    archive_entry* e = nullptr;
    for (;;) {
      int rc = sym_archive_read_next_header(in_.get(), &e);
      rethrow();
      if (rc == ARCHIVE_EOF) break;
      check_archive(in_.get(), rc, "reading the layer");
      entry(e);
    }
    for (const auto& a : aufs_) tree_.remove_path(a);
    tree_.finish();
    // The diff_id covers the stream to its end, padding after the tar included.
    while (advance()) {
    }
    return size_;
  }

 private:
  void entry(archive_entry* e) {
    std::string path = clean_entry_path(sym_archive_entry_pathname(e));
    if (path.empty() || path == "." || path == "./") return;
    const char* link = sym_archive_entry_hardlink(e);
    std::string cleaned_link = link != nullptr ? clean_entry_path(link) : "";
    check_entry_paths(path, cleaned_link, [](const std::string& p) { return "layer entry " + quote(p); });
    WhiteoutKind w = with_context("layer entry " + quote(path), [&] { return classify_whiteout(path); });
    switch (w.type) {
      case WhiteoutKind::Type::kWhiteout:
        return tree_.whiteout(w.dir, w.name);
      case WhiteoutKind::Type::kOpaque:
        return tree_.opaque(w.dir);
      case WhiteoutKind::Type::kReserved:
        return aufs_metadata(e, path, w.aufs);
      case WhiteoutKind::Type::kNone: break;
    }
    sym_archive_entry_copy_pathname(e, path.c_str());
    if (link != nullptr) sym_archive_entry_copy_hardlink(e, cleaned_link.c_str());
    if (is_whiteout_device(e)) refuse_whiteout_device("layer entry " + quote(path));
    if (sym_archive_entry_filetype(e) == AE_IFSOCK) return;  // a socket cannot be unpacked
    if (sym_archive_entry_filetype(e) == AE_IFREG && sym_archive_entry_hardlink(e) == nullptr)
      size_ += static_cast<uint64_t>(sym_archive_entry_size(e));
    // A layer written by tar --acls or bsdtar (SCHILY.acl.*) keeps its ACLs
    // as a rootfs tarball does; libarchive gives them apart from the xattrs.
    acls_as_xattrs(e);
    write(e, path);
  }

  void write(archive_entry* e, const std::string& path) {
    tree_.write(e, [&](const void** buf, size_t* n, int64_t* off) {
      la_int64_t o = 0;
      int rc = sym_archive_read_data_block(in_.get(), buf, n, &o);
      rethrow();
      if (rc == ARCHIVE_EOF) return false;
      check_archive(in_.get(), rc, "reading " + quote(path) + " from the layer");
      *off = o;
      return true;
    });
  }

  /// AUFS's metadata is none of the image's files. But hard links elsewhere
  /// in the layer may point into its ".wh..wh.plnk/" (as docker reads such
  /// layers): its files are written, for those links to take their content
  /// from, and removed with it at the layer's end.
  void aufs_metadata(archive_entry* e, const std::string& path, const std::string& aufs) {
    if (sym_archive_entry_filetype(e) != AE_IFREG || sym_archive_entry_hardlink(e) != nullptr) return;
    sym_archive_entry_copy_pathname(e, path.c_str());
    aufs_.insert(aufs);
    write(e, path);
  }

  /// Moves to the next chunk; false at the end of the stream.
  bool advance() {
    if (current_) queue_.recycle(std::move(*std::exchange(current_, std::nullopt)));
    current_ = queue_.pop();
    if (tick_) tick_();
    return current_.has_value();
  }

  size_t next_block(const void** buf) override {
    if (!advance()) return 0;
    *buf = current_->data();
    return current_->size();
  }

  ChunkQueue& queue_;
  std::function<void()> tick_;
  UniqueFd root_;
  TreeWriter tree_;
  std::optional<Chunk> current_;
  ArchivePtr in_;
  uint64_t size_ = 0;
  std::set<std::string> aufs_;  ///< AUFS metadata written, to remove at the end
};

}  // namespace

std::string layer_media_type(const stdfs::path& blob) {
  ArchivePtr in = new_blob_reader();
  check_archive(in.get(), sym_archive_read_open_filename(in.get(), blob.c_str(), kReadSize),
                "reading " + quote(blob.string()));
  archive_entry* e = nullptr;
  (void)sym_archive_read_next_header(in.get(), &e);  // an empty blob is a plain tar's
  return media_type_of(in.get());
}

namespace {

/// What `consume` reads of the uncompressed layer the blob gives (it
/// returns the bytes of file content), with the blob's digests, checked
/// against `want`.
ExtractedLayer read_layer(ByteSource& blob, const LayerExpectation& want, const ExtractOptions& opts,
                          const std::function<uint64_t(ChunkQueue&, const std::function<void()>&)>& consume) {
  ChunkQueue queue(kQueueChunks, kChunkSize);
  Decompressor producer(blob, queue, opts.copy_fd);
  ExtractedLayer out;
  {
    std::jthread thread([&] { producer.run(); });
    struct Stop {
      ChunkQueue& q;
      ~Stop() { q.cancel(); }
    } stop{queue};
    auto tick = [&] {
      if (opts.on_progress) opts.on_progress(producer.consumed().load());
    };
    out.size = consume(queue, tick);
  }
  out.blob_digest = producer.blob_digest();
  out.blob_size = producer.blob_size();
  out.diff_id = producer.diff_id();
  out.media_type = producer.media_type();
  // The caller names the blob it expected: said once, in its context.
  if (!want.blob_digest.empty() && out.blob_digest != want.blob_digest)
    throw Error("the blob's digest is " + out.blob_digest);
  if (want.blob_size >= 0 && out.blob_size != static_cast<uint64_t>(want.blob_size))
    throw Error("the blob has " + std::to_string(out.blob_size) + " bytes, not " + std::to_string(want.blob_size));
  if (!want.diff_id.empty() && out.diff_id != want.diff_id)
    throw Error("the uncompressed layer's digest is " + out.diff_id + ", not the diff_id " + want.diff_id +
                " of the image configuration");
  return out;
}

}  // namespace

ExtractedLayer extract_layer(ByteSource& blob, const stdfs::path& dest_arg, const LayerExpectation& want,
                             const ExtractOptions& opts) {
  const stdfs::path dest = stdfs::absolute(dest_arg);
  if (::mkdir(dest.c_str(), 0755) < 0) throw_errno("creating " + quote(dest.string()));
  return read_layer(blob, want, opts, [&](ChunkQueue& queue, const std::function<void()>& tick) {
    LayerReader writer(queue, dest, opts.lowers, tick);
    return writer.run();
  });
}

ExtractedLayer check_layer(ByteSource& blob, const LayerExpectation& want, const ExtractOptions& opts) {
  return read_layer(blob, want, opts, [](ChunkQueue& queue, const std::function<void()>& tick) {
    while (std::optional<Chunk> c = queue.pop()) {
      tick();
      queue.recycle(std::move(*c));
    }
    return uint64_t{0};
  });
}

}  // namespace crt::store
