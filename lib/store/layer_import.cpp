#include "store/layer_import.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "store/archive_util.hpp"
#include "store/digest.hpp"
#include "store/libarchive.hpp"
#include "store/tree_writer.hpp"
#include "store/whiteout.hpp"

namespace crt::store {

namespace {

namespace stdfs = std::filesystem;

struct LinkResolverDeleter {
  void operator()(archive_entry_linkresolver* r) const { sym_archive_entry_linkresolver_free(r); }
};

/// The last name of an entry path ("b" of "a/b/").
std::string_view entry_base_name(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

/// In a layer such a name is a whiteout: the file would hide another, or a
/// whole directory, wherever the layer is unpacked.
[[noreturn]] void refuse_whiteout_name(const std::string& shown) {
  throw Error(shown + " is named like an OCI whiteout ('.wh.'), which no layer can hold as a file");
}

/// Whether a LayerSink computes the layer's digest.
enum class Digest { kYes, kNo };

/// Writes every entry as a canonical tar into a hash (and to `out` when
/// given) unless `digest` is kNo, and onto disk unless `to_disk` is false.
class LayerSink {
 public:
  explicit LayerSink(bool to_disk = true, TarOutput out = {}, MessageSink warnings = {}, Digest digest = Digest::kYes)
      : out_(std::move(out)),
        warnings_(std::move(warnings)),
        tar_(digest == Digest::kYes ? sym_archive_write_new() : nullptr),
        disk_(to_disk ? sym_archive_write_disk_new() : nullptr) {
    if ((digest == Digest::kYes && !tar_) || (to_disk && !disk_)) throw Error("allocating libarchive handles");
    if (tar_) set_up_digest();
    if (disk_)
      check_archive(disk_.get(), sym_archive_write_disk_set_options(disk_.get(), secure_extract_flags()),
                    "setting up extraction");
  }

  // Work ended by an error: freeing the writer would otherwise finish the
  // entry, writing (and hashing) the zeros left of it, gigabytes of them
  // for a sparse file, before the error is told.
  ~LayerSink() {
    if (tar_ && !closed_) sym_archive_write_fail(tar_.get());
  }
  LayerSink(const LayerSink&) = delete;
  LayerSink& operator=(const LayerSink&) = delete;

  void set_up_digest() {
    check_archive(tar_.get(), sym_archive_write_set_format_pax_restricted(tar_.get()), "setting up the layer digest");
    check_archive(tar_.get(), sym_archive_write_set_bytes_in_last_block(tar_.get(), 1), "setting up the layer digest");
    check_archive(tar_.get(),
                  sym_archive_write_open2(tar_.get(), this, nullptr, &LayerSink::on_write, nullptr, nullptr),
                  "setting up the layer digest");
  }

  /// Called before each entry and each piece of data: true ends the work
  /// ("interrupted"), which its caller unwinds.
  void set_cancel_check(std::function<bool()> cancelled) { cancelled_ = std::move(cancelled); }

  void header(archive_entry* e) {
    check_cancelled();
    std::string path = sym_archive_entry_pathname(e) != nullptr ? sym_archive_entry_pathname(e) : "";
    if (tar_) check_archive(tar_.get(), sym_archive_write_header(tar_.get(), e), "archiving " + quote(path));
    if (disk_) check_disk(sym_archive_write_header(disk_.get(), e), quote(path));
    current_ = path;
    written_ = 0;
    bool data = sym_archive_entry_filetype(e) == AE_IFREG && sym_archive_entry_hardlink(e) == nullptr;
    size_of_current_ = data ? sym_archive_entry_size(e) : 0;
    size_ += static_cast<uint64_t>(size_of_current_);
  }

  /// A piece of the current entry's data, `off` bytes into the file: what
  /// lies between the pieces (a sparse file's holes) is zeros. The digest's
  /// tar leaves out what the entry's sparse map (sparse_map()) makes holes
  /// and holds the other zeros as written; on disk they stay holes.
  void data(const void* buf, size_t n, int64_t off) {
    check_cancelled();
    if (off < written_) throw Error("reading " + quote(current_) + ": its data comes out of order");
    if (tar_) {
      zeros_to(off);
      archive_tar(buf, n);
    }
    written_ = off + static_cast<int64_t>(n);
    // The disk writer tells a write(2) that failed (EIO, ENOSPC) as a
    // warning, "Write failed", and goes on: a warning here is a file that
    // is not what was read.
    if (disk_ && sym_archive_write_data_block(disk_.get(), buf, n, off) < ARCHIVE_OK)
      check_archive(disk_.get(), ARCHIVE_FATAL, "extracting " + quote(current_));
  }

  void finish_entry() {
    // Holes at the end: as zeros, asking whether to go on (libarchive would
    // write them uninterrupted).
    if (tar_) zeros_to(size_of_current_);
    if (disk_) check_disk(sym_archive_write_finish_entry(disk_.get()), quote(current_));
  }

  UnpackedLayer close() {
    closed_ = true;
    if (tar_) check_archive(tar_.get(), sym_archive_write_close(tar_.get()), "finishing the layer digest");
    if (disk_) check_disk(sym_archive_write_close(disk_.get()), "", "finishing extraction");
    return {tar_ ? "sha256:" + hash_.hex() : "", size_};
  }

 private:
  // A C callback: nothing may be thrown through libarchive.
  static la_ssize_t on_write(archive* a, void* self_arg, const void* buf, size_t n) {
    auto* self = static_cast<LayerSink*>(self_arg);
    try {
      self->hash_.update(buf, n);
      if (self->out_) self->out_(buf, n);
      return static_cast<la_ssize_t>(n);
    } catch (const std::exception& e) {
      sym_archive_set_error(a, EIO, "%s", e.what());
      return -1;
    }
  }

  void archive_tar(const void* buf, size_t n) {
    if (sym_archive_write_data(tar_.get(), buf, n) < 0)
      check_archive(tar_.get(), ARCHIVE_FATAL, "archiving " + quote(current_));
    written_ += static_cast<int64_t>(n);
  }

  // The tar skips the zeros of the entry's holes without writing them: in
  // big pieces, a hole of a terabyte is a million calls.
  void zeros_to(int64_t off) {
    static const char kZeros[1 << 20] = {};
    while (written_ < off) {
      check_cancelled();
      archive_tar(kZeros, static_cast<size_t>(std::min<int64_t>(off - written_, sizeof kZeros)));
    }
  }

  void check_cancelled() const {
    if (cancelled_ && cancelled_()) throw Error("interrupted");
  }

  /// A result of the disk writer about the entry `shown`: a warning (what it
  /// could not restore of the entry, as an xattr or a time) is told, not
  /// thrown.
  void check_disk(int rc, const std::string& shown, const std::string& what = "extracting") {
    std::string doing = shown.empty() ? what : what + " " + shown;
    check_archive(disk_.get(), rc, doing);
    if (rc != ARCHIVE_WARN) return;
    const char* msg = sym_archive_error_string(disk_.get());
    tell(warnings_,
         "warning: ignored while " + doing + ": " + (msg != nullptr ? msg : "a problem libarchive did not name"));
  }

  // Declared first, destroyed last: freeing tar_ may still write into them.
  TarOutput out_;
  MessageSink warnings_;
  std::function<bool()> cancelled_;
  Sha256 hash_;
  ArchivePtr tar_;
  ArchivePtr disk_;
  uint64_t size_ = 0;
  std::string current_;
  int64_t written_ = 0;  ///< bytes of the current entry's data archived
  int64_t size_of_current_ = 0;
  bool closed_ = false;
};

/// Entry metadata must not depend on when the source was read. File flags
/// (chattr's, a tarball's SCHILY.fflags) are none of a layer's: the disk
/// writer does not restore them, so the tree would not archive as the
/// layer, and docker and containerd drop them too.
void normalize(archive_entry* e) {
  sym_archive_entry_set_fflags(e, 0, 0);
  sym_archive_entry_unset_atime(e);
  sym_archive_entry_unset_ctime(e);
  sym_archive_entry_unset_birthtime(e);
  sym_archive_entry_set_uname(e, nullptr);
  sym_archive_entry_set_gname(e, nullptr);
}

/// The data of the file open as `fd`, `size` bytes as its entry says. Only
/// its data is read: a hole (SEEK_HOLE) is zeros without reading them, and
/// stays a hole where the sink writes the file.
void copy_file_data(int fd, int64_t size, LayerSink& sink, const std::string& shown) {
  char buf[128 * 1024];
  int64_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) return;  // holes to the end
    // A file system without SEEK_DATA: all of it is data.
    off_t hole = data < 0 ? size : ::lseek(fd, data, SEEK_HOLE);
    if (data < 0) data = pos;
    if (hole < 0) hole = size;
    int64_t end = std::min<int64_t>(hole, size);
    for (pos = data; pos < end;) {
      ssize_t n = ::pread(fd, buf, static_cast<size_t>(std::min<int64_t>(sizeof buf, end - pos)), pos);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("reading " + quote(shown));
      }
      if (n == 0) return;  // cut short meanwhile: the rest is zeros
      sink.data(buf, static_cast<size_t>(n), pos);
      pos += n;
    }
    pos = std::max<int64_t>(pos, hole);
  }
}

/// Whole aligned blocks of this size that hold only zeros are the holes of
/// a layer's file: they are none of the tar, and holes where it unpacks.
constexpr int64_t kSparseBlock = 1 << 20;

/// Marks as holes in `e` the kSparseBlock-aligned blocks of zeros of the
/// file open as `fd`, `size` bytes, whatever its holes on disk: the layer's
/// form depends on what the file holds, not on how it is stored (the same
/// tree archives as the same layer, copied or extracted). Its holes
/// (SEEK_DATA) are not read. Nothing for a file without such a block.
void add_sparse_map(archive_entry* e, int fd, int64_t size, const std::string& shown) {
  std::vector<char> buf;
  std::vector<std::pair<int64_t, int64_t>> data;  // offset, length
  auto add_data = [&data](int64_t off, int64_t len) {
    if (!data.empty() && data.back().first + data.back().second == off)
      data.back().second += len;
    else
      data.emplace_back(off, len);
  };
  bool holes = false;
  for (int64_t block = 0; block < size;) {
    int64_t len = std::min(kSparseBlock, size - block);
    // The first byte of data from here on: a block before it is a hole.
    off_t next = len < kSparseBlock ? block : ::lseek(fd, block, SEEK_DATA);
    if (next < 0 && errno == ENXIO) next = size;  // holes to the end
    if (next < 0) next = block;                   // a file system without SEEK_DATA
    if (next >= block + kSparseBlock) {
      holes = true;
      block += (std::min<int64_t>(next, size) - block) / kSparseBlock * kSparseBlock;
      continue;
    }
    bool zeros = false;
    if (len == kSparseBlock) {
      buf.resize(static_cast<size_t>(kSparseBlock));
      ssize_t n = 0;
      do n = ::pread(fd, buf.data(), buf.size(), block);
      while (n < 0 && errno == EINTR);
      if (n < 0) throw_errno("reading " + quote(shown));
      // Cut short meanwhile: what is missing reads as zeros, as copy_file_data() takes it.
      zeros = std::all_of(buf.begin(), buf.begin() + n, [](char c) { return c == 0; });
    }
    if (zeros)
      holes = true;
    else
      add_data(block, len);
    block += len;
  }
  if (!holes) return;
  // Its map makes the entry one with a pax header, which would hold the
  // time's nanoseconds where a plain entry has whole seconds: those, so that
  // a tarball without them (GNU tar's format) gives the same layer.
  sym_archive_entry_set_mtime(e, sym_archive_entry_mtime(e), 0);
  for (const auto& [off, len] : data) sym_archive_entry_sparse_add_entry(e, off, len);
  // A file of holes only: a map that says so, else the entry is not sparse.
  if (data.empty()) sym_archive_entry_sparse_add_entry(e, size, 0);
}

/// What a directory tree is: a plain rootfs, or the upper directory of an
/// overlay, whose whiteouts and opaque directories become OCI's.
enum class TreeKind { kPlain, kOverlayUpper };

/// Drops overlayfs's own xattrs from `e`; returns whether it marked the
/// directory opaque. In an overlay's upper directory redirects and metacopy
/// have no OCI form (`in_upper`): an error. In a rootfs they are no
/// overlay's, and would steer the overlays the tree becomes a layer of.
bool strip_overlay_xattrs(archive_entry* e, const std::string& shown, bool in_upper = true) {
  struct Xattr {
    std::string name;
    std::string value;
  };
  std::vector<Xattr> kept;
  bool opaque = false;
  bool dropped = false;
  sym_archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (sym_archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    std::string n = name != nullptr ? name : "";
    std::string v(static_cast<const char*>(value), size);
    if (!is_overlay_xattr(n)) {
      kept.push_back({n, v});
      continue;
    }
    dropped = true;
    std::string what = n.substr(n.find("overlay.") + 8);
    if (what == "opaque" && v == "y") opaque = true;
    if (in_upper && (what == "redirect" || what == "metacopy"))
      throw Error(quote(shown) + " uses overlayfs's " + what + ", which has no form in an OCI layer");
  }
  if (dropped) {
    sym_archive_entry_xattr_clear(e);
    for (const auto& x : kept) sym_archive_entry_xattr_add_entry(e, x.name.c_str(), x.value.data(), x.value.size());
  }
  return opaque;
}

/// A directory a walk leaves out wherever it finds it (by device and
/// inode: under any name, through any bind mount), telling so once.
struct OwnDirectory {
  dev_t dev = 0;
  ino_t ino = 0;
  bool told = false;
};

class DirectoryReader {
 public:
  explicit DirectoryReader(stdfs::path root, TreeKind kind = TreeKind::kPlain, std::set<std::string> leave_out = {})
      : root_(std::move(root)),
        kind_(kind),
        leave_out_(std::move(leave_out)),
        disk_(sym_archive_read_disk_new()),
        resolver_(sym_archive_entry_linkresolver_new()) {
    // Not even read (normalize() would drop them): see there. A file's holes
    // are how it is stored, not what it holds: a tree archives as the same
    // layer whether its zeros are holes (extraction makes them) or not (a
    // file of the host's it was linked to). copy_file_data() does not read
    // the holes all the same.
    check_archive(disk_.get(),
                  sym_archive_read_disk_set_behavior(disk_.get(), ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE),
                  "setting up the reading of " + quote(root_.string()));
    sym_archive_entry_linkresolver_set_strategy(resolver_.get(), ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
  }

  /// Leaves out the directory `dir` (crt's own) where the tree holds it,
  /// telling `messages`. Nothing when there is no such directory.
  void leave_out_own(const stdfs::path& dir, MessageSink messages) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) < 0) return;
    own_.push_back({st.st_dev, st.st_ino});
    own_messages_ = std::move(messages);
  }

  void copy_to(LayerSink& sink) {
    UniqueFd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("opening " + quote(root_.string()));
    levels_.clear();
    enter(std::move(root), "");
    while (!levels_.empty()) {
      Level& l = levels_.back();
      if (l.next == l.names.size()) {
        leave();
        continue;
      }
      const std::string& name = l.names[l.next++];
      std::string rel = l.rel.empty() ? name : l.rel + "/" + name;
      if (UniqueFd sub = add(l.fd.get(), name, rel, sink)) enter(std::move(sub), rel);
    }
    archive_entry* spare = nullptr;
    archive_entry* deferred = nullptr;
    sym_archive_entry_linkify(resolver_.get(), &deferred, &spare);
    if (deferred != nullptr) throw Error("unexpected deferred hard link");
  }

 private:
  // The walk goes by descriptors, each entry looked up by its name in its
  // directory's: whoever can write in the tree (a pod's app in its upper
  // directory, the owner of a directory being imported) may swap a
  // directory for a symlink meanwhile, and a path would then lead the walk
  // out of the tree.
  //
  // A descriptor for each level of depth would run out where a tree is
  // deeper than the open-file limit, so only the kOpenLevels deepest levels
  // keep theirs. The walk comes back up to a level above them through ".."
  // of the level below, which must then be the very directory it first
  // opened there (the same device and inode): else the level below was
  // moved out of it meanwhile, and ".." could lead anywhere, out of the
  // tree too.
  static constexpr size_t kOpenLevels = 32;

  /// A directory being walked.
  struct Level {
    std::string rel;                 ///< "" for the root
    std::vector<std::string> names;  ///< sorted; those from `next` on are still to do
    size_t next = 0;
    dev_t dev = 0;
    ino_t ino = 0;
    UniqueFd fd;  ///< closed while the walk is kOpenLevels levels below
  };

  /// Goes down into the directory open as `fd`.
  void enter(UniqueFd fd, const std::string& rel) {
    std::string shown = shown_path(rel);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) throw_errno("inspecting " + quote(shown));
    std::vector<std::string> names = fs::list_names(fd.get(), shown);
    std::sort(names.begin(), names.end());
    levels_.push_back({rel, std::move(names), 0, st.st_dev, st.st_ino, std::move(fd)});
    if (levels_.size() > kOpenLevels) levels_[levels_.size() - 1 - kOpenLevels].fd.reset();
  }

  /// Goes back up from the deepest directory, which is done.
  void leave() {
    Level done = std::move(levels_.back());
    levels_.pop_back();
    if (levels_.empty() || levels_.back().fd) return;
    Level& up = levels_.back();
    std::string shown = shown_path(done.rel);
    UniqueFd fd(::openat(done.fd.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) < 0) throw_errno("opening the directory above " + quote(shown));
    if (st.st_dev != up.dev || st.st_ino != up.ino) throw Error(quote(shown) + " was moved while it was being read");
    up.fd = std::move(fd);
  }

  /// Archives the entry `name` in `dir_fd`; a directory's descriptor when
  /// the walk goes on into it.
  UniqueFd add(int dir_fd, const std::string& name, const std::string& rel, LayerSink& sink) {
    if (leave_out_.count(rel) != 0) return {};
    // As a tarball's: a tree deeper than a path can name would be written
    // (by path) only in part, its owners and modes lost, and never archived
    // as itself again.
    check_entry_paths(rel, "", [&](const std::string& p) { return quote(shown_path(p)); });
    std::string full = shown_path(rel);
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("inspecting " + quote(full));
    // A socket is a live process's, and no tar holds one: left out, as tar,
    // docker and layer extraction (which skips one in a tarball) do.
    if (S_ISSOCK(st.st_mode)) return {};
    if (S_ISDIR(st.st_mode) && is_own(st, full)) return {};
    if (has_whiteout_prefix(name)) refuse_whiteout_name(quote(full));
    if (kind_ == TreeKind::kPlain && is_overlay_whiteout(st)) refuse_whiteout_device(quote(full));
    if (kind_ == TreeKind::kOverlayUpper && is_overlay_whiteout(st)) {
      // overlayfs's whiteout: a 0/0 character device where NAME was.
      auto slash = rel.rfind('/');
      std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash + 1);
      marker(parent + ".wh." + name, st, sink);
      return {};
    }
    UniqueFd fd;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      // Never a symlink or a FIFO put in its place since (O_NONBLOCK: a FIFO
      // would wait for a writer), and the same file the entry describes.
      fd.reset(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
      struct stat now {};
      if (!fd || ::fstat(fd.get(), &now) < 0) throw_errno("opening " + quote(full));
      if (now.st_dev != st.st_dev || now.st_ino != st.st_ino)
        throw Error(quote(full) + " was replaced while it was being read");
      st = now;
    }
    EntryPtr entry(sym_archive_entry_new());
    // libarchive reads a symlink's target, and the xattrs and ACLs of what
    // has no descriptor here, by this path: the directory's own descriptor
    // and the name, which it does not follow.
    sym_archive_entry_copy_sourcepath(entry.get(), ("/proc/self/fd/" + std::to_string(dir_fd) + "/" + name).c_str());
    sym_archive_entry_copy_pathname(entry.get(), rel.c_str());
    check_archive(disk_.get(), sym_archive_read_disk_entry_from_file(disk_.get(), entry.get(), fd.get(), &st),
                  "reading " + quote(full));
    normalize(entry.get());
    bool opaque =
        strip_overlay_xattrs(entry.get(), full, kind_ == TreeKind::kOverlayUpper) && kind_ == TreeKind::kOverlayUpper;
    archive_entry* e = entry.release();
    archive_entry* spare = nullptr;
    sym_archive_entry_linkify(resolver_.get(), &e, &spare);
    if (spare != nullptr) sym_archive_entry_free(spare);
    EntryPtr owned(e);
    if (owned) {
      if (S_ISREG(st.st_mode) && sym_archive_entry_hardlink(owned.get()) == nullptr)
        add_sparse_map(owned.get(), fd.get(), sym_archive_entry_size(owned.get()), full);
      sink.header(owned.get());
      if (S_ISREG(st.st_mode) && sym_archive_entry_size(owned.get()) > 0)
        copy_file_data(fd.get(), sym_archive_entry_size(owned.get()), sink, full);
      sink.finish_entry();
    }
    if (opaque && S_ISDIR(st.st_mode)) marker(rel + "/.wh..wh..opq", st, sink);
    if (S_ISDIR(st.st_mode) && is_kernel_file_system(fd.get(), full)) return {};
    return S_ISDIR(st.st_mode) ? std::move(fd) : UniqueFd();
  }

  /// Whether the directory open as `fd`, at `full`, is the top of a file
  /// system of the kernel's (proc, sysfs, cgroup…), as in an import of a
  /// host's /: its mount point is kept, what the kernel shows in it is no
  /// part of an image (and reading it could block, or never end); autofs
  /// would mount what it stands for. Told once each.
  bool is_kernel_file_system(int fd, const std::string& full) {
    struct statfs sf {};
    if (::fstatfs(fd, &sf) < 0) return false;
    static constexpr std::pair<unsigned long, const char*> kKernel[] = {
        {PROC_SUPER_MAGIC, "proc"},     {SYSFS_MAGIC, "sysfs"},
        {CGROUP_SUPER_MAGIC, "cgroup"}, {CGROUP2_SUPER_MAGIC, "cgroup2"},
        {DEVPTS_SUPER_MAGIC, "devpts"}, {DEBUGFS_MAGIC, "debugfs"},
        {TRACEFS_MAGIC, "tracefs"},     {SECURITYFS_MAGIC, "securityfs"},
        {BPF_FS_MAGIC, "bpf"},          {PSTOREFS_MAGIC, "pstore"},
        {EFIVARFS_MAGIC, "efivarfs"},   {BINFMTFS_MAGIC, "binfmt_misc"},
        {NSFS_MAGIC, "nsfs"},           {AUTOFS_SUPER_MAGIC, "autofs"}};
    for (const auto& [magic, type] : kKernel) {
      if (static_cast<unsigned long>(sf.f_type) != magic) continue;
      tell(own_messages_, "leaving out what the kernel shows in " + quote(full) + " (" + type + ")");
      return true;
    }
    return false;
  }

  /// Whether `st` is a directory of crt's own, which the tree holds at
  /// `full`: crt's state when a whole file system is imported, with the
  /// tree being imported into, which would grow as fast as it is read.
  bool is_own(const struct stat& st, const std::string& full) {
    for (auto& o : own_) {
      if (o.dev != st.st_dev || o.ino != st.st_ino) continue;
      if (!o.told) tell(own_messages_, "leaving out crt's own state at " + quote(full));
      o.told = true;
      return true;
    }
    return false;
  }

  /// The path of `rel` (in the tree) on the host, for messages: a string,
  /// not a std::filesystem::path, which splits it into one object per
  /// component, costly for each entry of a deep tree.
  [[nodiscard]] std::string shown_path(const std::string& rel) const {
    const std::string& root = root_.native();
    if (rel.empty()) return root;
    return root.ends_with('/') ? root + rel : root + "/" + rel;
  }

  /// An empty file standing for a whiteout or an opaque directory, owned by
  /// root, with the time of what it stands for.
  static void marker(const std::string& rel, const struct stat& st, LayerSink& sink) {
    EntryPtr m(sym_archive_entry_new());
    sym_archive_entry_copy_pathname(m.get(), rel.c_str());
    sym_archive_entry_set_filetype(m.get(), AE_IFREG);
    sym_archive_entry_set_perm(m.get(), 0644);
    sym_archive_entry_set_size(m.get(), 0);
    sym_archive_entry_set_uid(m.get(), 0);
    sym_archive_entry_set_gid(m.get(), 0);
    sym_archive_entry_set_mtime(m.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    sink.header(m.get());
    sink.finish_entry();
  }

  stdfs::path root_;
  TreeKind kind_;
  std::set<std::string> leave_out_;
  std::vector<OwnDirectory> own_;
  MessageSink own_messages_;
  ArchivePtr disk_;
  std::unique_ptr<archive_entry_linkresolver, LinkResolverDeleter> resolver_;
  std::vector<Level> levels_;  ///< from the root down to the directory being read
};

/// Unpacks the tarball `source` into the directory `dest` as an OCI layer
/// is unpacked (TreeWriter, fd-relative): a later entry replaces an earlier
/// one of its name, a directory with all it holds, as tar, docker and
/// containerd take it. Its digest is its tree's, taken once it is written.
void copy_archive(const stdfs::path& source, const stdfs::path& dest, const std::function<bool()>& cancelled,
                  const MessageSink& warnings) {
  auto check_cancelled = [&cancelled] {
    if (cancelled && cancelled()) throw Error("interrupted");
  };
  ArchivePtr in(sym_archive_read_new());
  sym_archive_read_support_filter_all(in.get());
  sym_archive_read_support_format_tar(in.get());
  check_archive(in.get(), sym_archive_read_open_filename(in.get(), source.c_str(), 128 * 1024),
                "opening " + quote(source.string()));
  TreeWriter tree(fs::open_fd(dest, O_RDONLY | O_DIRECTORY).get(), {}, warnings);
  archive_entry* e = nullptr;
  for (;;) {
    check_cancelled();
    int rc = sym_archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    check_archive(in.get(), rc, "reading " + quote(source.string()));
    std::string path = clean_entry_path(sym_archive_entry_pathname(e));
    if (path.empty() || path == ".") continue;
    sym_archive_entry_copy_pathname(e, path.c_str());
    std::string link = clean_entry_path(sym_archive_entry_hardlink(e));
    if (sym_archive_entry_hardlink(e) != nullptr) sym_archive_entry_copy_hardlink(e, link.c_str());
    check_entry_paths(path, link, [&](const std::string& p) { return quote(p) + " in " + quote(source.string()); });
    if (is_whiteout_device(e)) refuse_whiteout_device(quote(path) + " in " + quote(source.string()));
    // Refused before the rest is unpacked, naming the entry as the tarball
    // has it (the tree's walk would name it in a temporary directory).
    if (has_whiteout_prefix(entry_base_name(path))) refuse_whiteout_name(quote(path) + " in " + quote(source.string()));
    // A socket is a live process's: left out, as a layer's is.
    if (sym_archive_entry_filetype(e) == AE_IFSOCK && sym_archive_entry_hardlink(e) == nullptr) continue;
    normalize(e);
    (void)strip_overlay_xattrs(e, path, false);
    acls_as_xattrs(e);
    tree.write(e, [&](const void** buf, size_t* n, int64_t* off) {
      check_cancelled();
      la_int64_t o = 0;
      int r = sym_archive_read_data_block(in.get(), buf, n, &o);
      if (r == ARCHIVE_EOF) return false;
      check_archive(in.get(), r, "reading " + quote(path) + " from " + quote(source.string()));
      *off = o;
      return true;
    });
  }
  tree.finish();
}

}  // namespace

UnpackedLayer unpack_rootfs(const stdfs::path& source_arg, const stdfs::path& dest_arg,
                            const std::function<bool()>& cancelled, const MessageSink& warnings,
                            const std::vector<stdfs::path>& own) {
  // Extraction works relative to the working directory, which moves into dest.
  const stdfs::path source = stdfs::absolute(source_arg);
  const stdfs::path dest = stdfs::absolute(dest_arg);
  struct stat st {};
  if (::stat(source.c_str(), &st) < 0) throw_errno(quote(source.string()));
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
    throw Error(quote(source.string()) + " is neither a directory nor a tar archive");
  if (::mkdir(dest.c_str(), 0755) < 0) throw_errno("creating " + quote(dest.string()));
  if (S_ISDIR(st.st_mode)) {
    // The guard outlives the sink: freeing the disk writer applies its
    // deferred fixups relative to the working directory.
    CwdGuard cwd(dest);
    LayerSink sink(true, {}, warnings);
    sink.set_cancel_check(cancelled);
    DirectoryReader reader(source);
    for (const auto& dir : own) reader.leave_out_own(dir, warnings);
    reader.leave_out_own(dest, warnings);
    reader.copy_to(sink);
    return sink.close();
  }
  copy_archive(source, dest, cancelled, warnings);
  // A tarball's order and form (a "./" prefix, implied directories, which
  // of two hard links comes first) are its writer's: the layer is what the
  // tree archives as, as for a directory, so the same tree is the same
  // layer and an export gives it again (archive_tree()).
  return with_context("archiving " + quote(dest.string()), [&] {
    LayerSink sink(false);
    sink.set_cancel_check(cancelled);
    DirectoryReader(dest).copy_to(sink);
    return sink.close();
  });
}

void copy_tree(const stdfs::path& source_arg, const stdfs::path& dest_arg) {
  const stdfs::path source = stdfs::absolute(source_arg);
  const stdfs::path dest = stdfs::absolute(dest_arg);
  if (::mkdir(dest.c_str(), 0755) < 0) throw_errno("creating " + quote(dest.string()));
  CwdGuard cwd(dest);
  LayerSink sink(true, {}, {}, Digest::kNo);
  DirectoryReader(source).copy_to(sink);
  sink.close();
}

UnpackedLayer archive_tree(const stdfs::path& tree, const TarOutput& out) {
  return with_context("archiving " + quote(tree.string()), [&] {
    LayerSink sink(false, out);
    DirectoryReader(stdfs::absolute(tree)).copy_to(sink);
    return sink.close();
  });
}

UnpackedLayer archive_overlay_upper(const stdfs::path& upper, const TarOutput& out,
                                    const std::set<std::string>& leave_out) {
  return with_context("archiving " + quote(upper.string()), [&] {
    LayerSink sink(false, out);
    DirectoryReader(stdfs::absolute(upper), TreeKind::kOverlayUpper, leave_out).copy_to(sink);
    return sink.close();
  });
}

}  // namespace crt::store
