#include "store/blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/work_dir.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

BlobStore::BlobStore(stdfs::path store_root) : root_(std::move(store_root)) {}

stdfs::path BlobStore::path(std::string_view digest) const { return root_ / "blobs" / "sha256" / digest_hex(digest); }

bool BlobStore::has(std::string_view digest) const {
  struct stat st {};
  return ::stat(path(digest).c_str(), &st) == 0;
}

bool BlobStore::has(std::string_view digest, int64_t size) const {
  struct stat st {};
  return ::stat(path(digest).c_str(), &st) == 0 && (size < 0 || st.st_size == size);
}

bool BlobStore::put(std::string_view digest, std::string_view data) const {
  if (sha256_digest(data) != digest) throw Error("blob " + std::string(digest) + " does not match its digest");
  // One that is there but damaged is replaced: storing it again repairs it.
  bool had = has(digest);
  if (had && holds(digest, data)) return false;
  // The store syncs the blob directory once, before an image names the blob.
  fs::write_file_atomic(path(digest), data, 0644, fs::Durability::kSyncedFile);
  return !had;
}

bool BlobStore::holds(std::string_view digest, std::string_view data) const {
  std::error_code ec;
  if (stdfs::file_size(path(digest), ec) != data.size() || ec) return false;
  return sha256_digest(fs::read_file(path(digest))) == digest;
}

std::string BlobStore::get(std::string_view digest, size_t limit) const {
  stdfs::path p = path(digest);
  std::error_code ec;
  auto size = stdfs::file_size(p, ec);
  if (ec) throw Error("blob " + std::string(digest) + " is not in the store");
  if (size > limit) throw Error("blob " + std::string(digest) + " is too large (" + std::to_string(size) + " bytes)");
  std::string data = fs::read_file(p);
  if (sha256_digest(data) != digest) throw Error("blob " + std::string(digest) + " in the store is corrupt");
  return data;
}

namespace {

/// "sha256:<hex>" of what `fd` holds, read from its start.
std::string digest_of_fd(int fd, const stdfs::path& shown) {
  Sha256 hash;
  std::vector<char> buf(1 << 20);
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("reading " + quote(shown.string()));
    if (n == 0) return "sha256:" + hash.hex();
    hash.update(buf.data(), static_cast<size_t>(n));
    at += n;
  }
}

}  // namespace

bool BlobStore::remove_damaged(std::string_view digest, int fd) const {
  struct stat seen {};
  if (::fstat(fd, &seen) < 0) throw_errno("inspecting blob " + std::string(digest));
  // Moved aside before it is looked at: a copy stored between a look and an
  // unlink would go instead. Writers rename their copies into place
  // without a lock of the blob (an import's, under its layer's), so what
  // was moved is told by its inode, which `fd` keeps from being reused.
  WorkDir work(root_ / "tmp", "damaged");
  stdfs::path aside = work.path() / "blob";
  stdfs::path p = path(digest);
  if (::rename(p.c_str(), aside.c_str()) < 0) {
    if (errno == ENOENT) return true;  // another crt took it out first
    throw_errno("removing the damaged blob " + quote(p.string()));
  }
  struct stat moved {};
  if (::lstat(aside.c_str(), &moved) < 0) throw_errno("inspecting " + quote(aside.string()));
  if (moved.st_dev == seen.st_dev && moved.st_ino == seen.st_ino) return true;  // the work directory takes it
  // A checked copy stored since `fd` was read: back it goes (over another,
  // as good, stored meanwhile).
  if (::rename(aside.c_str(), p.c_str()) < 0) throw_errno("putting back " + quote(p.string()));
  return false;
}

std::string BlobStore::check_stored(std::string_view digest) const {
  stdfs::path p = path(digest);
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return "";
    throw_errno("opening " + quote(p.string()));
  }
  std::string content = digest_of_fd(fd.get(), p);
  if (content != digest) remove_damaged(digest, fd.get());
  return content;
}

BlobWriter::BlobWriter(const BlobStore& store, std::string digest, int64_t size)
    : store_(store), digest_(std::move(digest)), size_(size) {
  std::string hex = digest_hex(digest_);
  stdfs::path tmp = store_.root() / "tmp";
  partial_ = tmp / ("blob-" + hex + ".partial");
  lock_ = FileLock::acquire(store_.root() / "locks" / ("blob-" + hex), FileLock::Mode::kExclusive, store_.lock_wait(),
                            "another crt storing blob " + digest_.substr(0, 19));
  if (store_.has(digest_, size_)) {
    done_ = true;
    return;
  }
  fd_ = fs::open_fd(partial_, O_RDWR | O_CREAT, 0644);
  // Hash what an interrupted writer left, then append to it.
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("reading " + quote(partial_.string()));
    }
    if (n == 0) break;
    hash_.update(buf, static_cast<size_t>(n));
    offset_ += static_cast<uint64_t>(n);
  }
  if (size_ >= 0 && offset_ > static_cast<uint64_t>(size_)) restart();
  // A writer stopped between its last byte and the rename left all of it:
  // there is nothing to resume (a registry answers 416 to a Range from the
  // end), so it is stored if right and written again if not.
  if (size_ >= 0 && offset_ == static_cast<uint64_t>(size_)) {
    if ("sha256:" + hash_.hex() == digest_)
      store_written();
    else
      restart();
  }
}

BlobWriter::~BlobWriter() {
  // An empty partial (a corrupt blob's, truncated by commit(); a fetch
  // that got nothing) is nothing to resume. The lock is still held here.
  if (!done_ && fd_ && offset_ == 0) ::unlink(partial_.c_str());
}

void BlobWriter::write(const void* data, size_t n) {
  // A source that sends on (a broken or hostile registry) must not fill the disk.
  if (size_ >= 0 && offset_ + n > static_cast<uint64_t>(size_)) {
    restart();
    throw Error("it is corrupt: more than its " + std::to_string(size_) + " bytes came");
  }
  const char* p = static_cast<const char*>(data);
  hash_.update(p, n);
  offset_ += n;
  fs::write_all(fd_.get(), {p, n}, "writing the blob");
}

void BlobWriter::restart() {
  if (::ftruncate(fd_.get(), 0) < 0 || ::lseek(fd_.get(), 0, SEEK_SET) < 0) throw_errno("truncating " + quote(partial_.string()));
  hash_.reset();
  offset_ = 0;
}

void BlobWriter::commit() {
  if (done_) return;
  std::string got = "sha256:" + hash_.hex();
  if (got != digest_ || (size_ >= 0 && offset_ != static_cast<uint64_t>(size_))) {
    uint64_t had = offset_;
    restart();
    throw Error("it is corrupt: got " + std::to_string(had) + " bytes with digest " + got +
                (size_ >= 0 ? ", expected " + std::to_string(size_) + " bytes" : ""));
  }
  store_written();
}

void BlobWriter::store_written() {
  if (::fsync(fd_.get()) < 0) throw_errno("syncing the blob");
  stdfs::path dest = store_.path(digest_);
  if (::rename(partial_.c_str(), dest.c_str()) < 0) throw_errno("storing the blob");
  done_ = true;
}

}  // namespace crt::store
