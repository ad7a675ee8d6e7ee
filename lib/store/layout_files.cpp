#include "store/layout_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/archive_util.hpp"
#include "store/digest.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;

namespace {

/// A file opened beneath the layout directory.
class FdSource : public ByteSource {
 public:
  FdSource(UniqueFd fd, std::string shown) : fd_(std::move(fd)), shown_(std::move(shown)) {}
  size_t read(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_.get(), buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) throw_errno("reading " + shown_);
    }
  }
  [[nodiscard]] std::string describe() const override { return shown_; }

 private:
  UniqueFd fd_;
  std::string shown_;
};

/// One member of a tar archive, read through libarchive.
class MemberSource : public ByteSource {
 public:
  MemberSource(const stdfs::path& archive_path, const std::string& member)
      : in_(open_tar_file(archive_path)), data_(in_.get(), quote(member) + " in " + quote(archive_path.string())) {
    archive_entry* e = nullptr;
    for (;;) {
      int rc = sym_archive_read_next_header(in_.get(), &e);
      if (rc == ARCHIVE_EOF) throw Error(data_.describe() + " is missing");
      check_archive(in_.get(), rc, "reading " + quote(archive_path.string()));
      if (clean_entry_path(sym_archive_entry_pathname(e)) == member && sym_archive_entry_filetype(e) == AE_IFREG)
        return;
    }
  }
  size_t read(void* buf, size_t n) override { return data_.read(buf, n); }
  [[nodiscard]] std::string describe() const override { return data_.describe(); }

 private:
  ArchivePtr in_;
  EntryDataSource data_;
};

void check_relative(const std::string& path) {
  if (path.empty() || path.front() == '/' || path == ".." || path.rfind("../", 0) == 0 ||
      path.find("/../") != std::string::npos || (path.size() >= 3 && path.compare(path.size() - 3, 3, "/..") == 0))
    throw Error("refusing the path " + quote(path) + ": it leaves the layout");
}

/// The member a symlink at `link` pointing to `target` names ("" when it
/// leaves the archive).
std::string lexical_join(const std::string& link, const std::string& target) {
  if (!target.empty() && target.front() == '/') return "";
  std::vector<std::string> parts;
  std::string dir = link.substr(0, link.rfind('/') == std::string::npos ? 0 : link.rfind('/'));
  std::string all = dir.empty() ? target : dir + "/" + target;
  size_t pos = 0;
  while (pos <= all.size()) {
    size_t slash = all.find('/', pos);
    std::string c = all.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (c == "..") {
      if (parts.empty()) return "";
      parts.pop_back();
    } else if (!c.empty() && c != ".") {
      parts.push_back(c);
    }
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  std::string out;
  for (const auto& c : parts) out += (out.empty() ? "" : "/") + c;
  return out;
}

}  // namespace

std::string LayoutFiles::read(const std::string& path, size_t limit) const { return read_all(*open(path), limit); }

DirectoryFiles::DirectoryFiles(stdfs::path root)
    : root_(std::move(root)), root_fd_(fs::open_fd(root_, O_PATH | O_DIRECTORY)) {}

bool DirectoryFiles::exists(const std::string& path) const {
  try {
    check_relative(path);
    (void)fs::open_in_root(root_fd_.get(), path, O_PATH);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::unique_ptr<ByteSource> DirectoryFiles::open(const std::string& path) const {
  check_relative(path);
  std::string shown = quote((root_ / path).string());
  // Looked at before it is opened for reading: the open of a FIFO would
  // block (and crt waits out a stop), a device's could do anything.
  UniqueFd where = with_context("in the layout " + quote(root_.string()),
                                [&] { return fs::open_in_root(root_fd_.get(), path, O_PATH); });
  struct stat st {};
  if (::fstat(where.get(), &st) < 0 || !S_ISREG(st.st_mode)) throw Error(shown + " is not a regular file");
  UniqueFd fd = with_context("opening " + shown,
                             [&] { return fs::open_fd("/proc/self/fd/" + std::to_string(where.get()), O_RDONLY); });
  return std::make_unique<FdSource>(std::move(fd), shown);
}

std::string DirectoryFiles::describe() const { return quote(root_.string()); }

ArchiveFiles::ArchiveFiles(stdfs::path archive) : archive_(std::move(archive)) {
  ArchivePtr in = open_tar_file(archive_);
  archive_entry* e = nullptr;
  for (;;) {
    int rc = sym_archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    check_archive(in.get(), rc, "reading " + quote(archive_.string()));
    std::string name = clean_entry_path(sym_archive_entry_pathname(e));
    auto type = sym_archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFLNK) continue;
    // Tools differ in which of two entries of one name counts (docker load
    // unpacks, so the last; a reader of the stream may take the first): an
    // image scanned as one could run as the other.
    if (members_.count(name) > 0 || links_.count(name) > 0)
      throw Error(quote(name) + " is in " + quote(archive_.string()) +
                  " twice: tools differ in which one counts, so crt takes neither");
    if (type == AE_IFREG) members_.insert(name);
    if (type == AE_IFLNK && sym_archive_entry_symlink(e) != nullptr)
      links_[name] = lexical_join(name, sym_archive_entry_symlink(e));
  }
}

std::string ArchiveFiles::resolve(const std::string& path) const {
  std::string p = path;
  for (int hops = 0; hops < 8; ++hops) {
    auto it = links_.find(p);
    if (it == links_.end()) return p;
    p = it->second;
  }
  throw Error("too many symlinks from " + quote(path) + " in " + quote(archive_.string()));
}

bool ArchiveFiles::exists(const std::string& path) const { return members_.count(resolve(path)) > 0; }

std::unique_ptr<ByteSource> ArchiveFiles::open(const std::string& path) const {
  check_relative(path);
  std::string real = resolve(path);
  check_relative(real);
  if (members_.count(real) == 0) throw Error(quote(path) + " is missing in " + quote(archive_.string()));
  return std::make_unique<MemberSource>(archive_, real);
}

std::string ArchiveFiles::describe() const { return quote(archive_.string()); }

std::string layout_blob_path(const std::string& digest) { return "blobs/sha256/" + digest_hex(digest); }

}  // namespace crt::store
