#include "store/tree_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/libarchive.hpp"
#include "store/progress.hpp"
#include "store/whiteout.hpp"

namespace crt::store {

namespace {

constexpr size_t kMaxOpenDirs = 128;

// How often the file system's room is looked at, and how much is left.
constexpr uint64_t kCheckBytes = 8 << 20;
constexpr uint64_t kCheckEntries = 1024;
constexpr uint64_t kMinFreeBytes = 16 << 20;
constexpr uint64_t kMaxFreeBytes = 256 << 20;

[[noreturn]] void fail_entry(const std::string& path, const std::string& what) {
  throw Error("layer entry " + quote(path) + ": " + what);
}

void check_name(const std::string& path, const std::string& name) {
  if (name.empty() || name == "." || name == "..") fail_entry(path, "is not a file name");
}

/// Whether an xattr the store's file system refused with `err` may be left
/// out, as containerd leaves it: one the file system keeps none of (user.*
/// on an old tmpfs, an unknown namespace), or a security label the host's
/// LSM will not set (security.selinux). File capabilities and POSIX ACLs
/// stay required: without them an app would silently lose a capability, or
/// a file's group gain the ACL mask's rights.
bool may_skip_xattr(std::string_view name, int err) {
  if (name == "security.capability" || name.rfind("system.posix_acl_", 0) == 0) return false;
  if (err == ENOTSUP || err == EOPNOTSUPP) return true;
  return (err == EPERM || err == EACCES) && name.rfind("security.", 0) == 0;
}

void set_times(int dir, const std::string& name, archive_entry* e, const std::string& path) {
  struct timespec ts[2];
  ts[1].tv_sec = sym_archive_entry_mtime(e);
  ts[1].tv_nsec = sym_archive_entry_mtime_nsec(e);
  ts[0] =
      sym_archive_entry_atime_is_set(e) ? timespec{sym_archive_entry_atime(e), sym_archive_entry_atime_nsec(e)} : ts[1];
  if (::utimensat(dir, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno("layer entry " + quote(path) + ": setting its times");
}

}  // namespace

TreeWriter::TreeWriter(int root_fd, const std::vector<std::filesystem::path>& lowers, MessageSink warnings)
    : root_(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0)), warnings_(std::move(warnings)) {
  if (!root_) throw_errno("duplicating a file descriptor");
  for (auto it = lowers.rbegin(); it != lowers.rend(); ++it)
    lowers_.push_back(fs::open_fd(*it, O_RDONLY | O_DIRECTORY));
}

// Owner, then mode (chown clears setuid), then xattrs (chown clears
// security.capability).
void TreeWriter::apply_metadata(int fd, archive_entry* e, const std::string& path) {
  if (::fchown(fd, static_cast<uid_t>(sym_archive_entry_uid(e)), static_cast<gid_t>(sym_archive_entry_gid(e))) < 0)
    throw_errno("layer entry " + quote(path) + ": setting its owner");
  if (::fchmod(fd, sym_archive_entry_perm(e)) < 0) throw_errno("layer entry " + quote(path) + ": setting its mode");
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  std::set<std::string> skipped;
  if (sym_archive_entry_xattr_reset(e) > 0) {
    while (sym_archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      if (is_overlay_xattr(name)) continue;
      if (::fsetxattr(fd, name, value, size, 0) == 0) continue;
      int err = errno;
      if (!may_skip_xattr(name, err))
        throw_errno(err, "layer entry " + quote(path) + ": setting its xattr " + quote(name));
      // Told once: a tar may carry it twice (SCHILY.xattr. and LIBARCHIVE.xattr.).
      if (skipped.insert(name).second)
        tell(warnings_, "warning: ignored while extracting " + quote(path) + ": its xattr " + quote(name) + ": " +
                            std::strerror(err));
    }
  }
}

void TreeWriter::count_written(uint64_t bytes, bool entry, const std::string& path) {
  bytes_unchecked_ += bytes;
  entries_unchecked_ += entry ? 1 : 0;
  if (bytes_unchecked_ < kCheckBytes && entries_unchecked_ < kCheckEntries) return;
  bytes_unchecked_ = entries_unchecked_ = 0;
  struct statvfs sv {};
  if (::fstatvfs(root_.get(), &sv) < 0) throw_errno("layer entry " + quote(path) + ": reading the room left");
  uint64_t total = static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize;
  uint64_t left = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  uint64_t keep = std::clamp<uint64_t>(total / 100, kMinFreeBytes, kMaxFreeBytes);
  // Before the file system is full, not at it: the host's other users of
  // it (its journal, its services) would fail meanwhile, and the layer
  // would fill it anyway.
  if (left < keep)
    fail_entry(path, "unpacking stopped with " + human_bytes(left) + " left of the " + human_bytes(total) +
                         " of the store's file system, less than the " + human_bytes(keep) +
                         " crt keeps free (1% of it, from 16 to 256 MiB): the layer unpacks to more than there is "
                         "room for");
  // A file system without a count of inodes (btrfs) says 0.
  if (sv.f_files > 0 && sv.f_favail < sv.f_files / 100)
    fail_entry(path, "unpacking stopped with " + std::to_string(sv.f_favail) + " of the " + std::to_string(sv.f_files) +
                         " inodes of the store's file system left (crt leaves 1% of them free): the layer holds more "
                         "files than there is room for");
}

int TreeWriter::dir_fd(const std::string& dir) {
  if (dir.empty()) return root_.get();
  if (auto it = dirs_.find(dir); it != dirs_.end()) return it->second.get();
  size_t slash = dir.rfind('/');
  std::string parent = slash == std::string::npos ? "" : dir.substr(0, slash);
  std::string name = slash == std::string::npos ? dir : dir.substr(slash + 1);
  check_name(dir, name);
  // A parent the layer does not list: its metadata comes at the end, when
  // the layer has not listed it after all.
  bool made = false;
  UniqueFd fd = open_layer_dir(dir_fd(parent), name, dir, &made);
  if (made) implied_.insert(dir);
  return cache_dir(dir, std::move(fd));
}

int TreeWriter::existing_dir(const std::string& dir) {
  if (dir.empty()) return root_.get();
  if (auto it = dirs_.find(dir); it != dirs_.end()) return it->second.get();
  size_t slash = dir.rfind('/');
  int parent = existing_dir(slash == std::string::npos ? "" : dir.substr(0, slash));
  if (parent < 0) return -1;
  UniqueFd fd(
      fs::open_beneath(parent, dir.c_str() + (slash == std::string::npos ? 0 : slash + 1), O_RDONLY | O_DIRECTORY));
  if (!fd) return -1;
  return cache_dir(dir, std::move(fd));
}

int TreeWriter::cache_dir(const std::string& dir, UniqueFd fd) {
  if (dirs_.size() >= kMaxOpenDirs) {
    dirs_.erase(dir_order_.front());
    dir_order_.pop_front();
  }
  dir_order_.push_back(dir);
  return dirs_.emplace(dir, std::move(fd)).first->second.get();
}

TreeWriter::Parent TreeWriter::parent_of(const std::string& path) {
  if (path.empty() || path.front() == '/') fail_entry(path, "is an absolute path");
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  std::string dir = slash == std::string::npos ? "" : p.substr(0, slash);
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  check_name(path, name);
  return {entry_dir(dir, path), name};
}

int TreeWriter::entry_dir(const std::string& dir, const std::string& path) {
  for (size_t pos = 0; pos <= dir.size();) {
    size_t next = dir.find('/', pos);
    std::string comp = dir.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (comp == "..") fail_entry(path, "leaves the layer");
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return dir_fd(dir);
}

void TreeWriter::whiteout(const std::string& dir, const std::string& name) {
  std::string path = dir.empty() ? ".wh." + name : dir + "/.wh." + name;
  int fd = entry_dir(dir, path);
  // A directory of this layer in its place is made anew (opaque): none of
  // the lower layers' shows, its own metadata neither.
  implied_.erase(dir.empty() ? name : dir + "/" + name);
  make_overlay_whiteout(fd, dir, name);
}

void TreeWriter::opaque(const std::string& dir) { set_overlay_opaque(entry_dir(dir, dir), dir); }

bool TreeWriter::clear(int dir, const std::string& name, bool want_dir, const std::string& path) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return false;
    throw_errno("layer entry " + quote(path));
  }
  if (S_ISDIR(st.st_mode) && want_dir) return true;
  // A later entry replaces an earlier one of the same name; a directory with
  // all it holds, as containerd and docker replace it.
  remove(dir, name, S_ISDIR(st.st_mode), path, "replacing what was there");
  return false;
}

void TreeWriter::remove(int dir, const std::string& name, bool is_dir, const std::string& path,
                        const std::string& what) {
  std::string context = "layer entry " + quote(path) + ": " + what;
  if (!is_dir) {
    if (::unlinkat(dir, name.c_str(), 0) < 0) throw_errno(context);
    return;
  }
  with_context(context, [&] { fs::remove_tree_at(dir, name, path); });
  // The cached fds of a removed directory and those below it would point
  // at the old ones; the others stay (`dir`, the caller's, among them).
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  auto gone = [&p](const std::string& d) { return d == p || d.starts_with(p + "/"); };
  std::erase_if(dirs_, [&](const auto& kv) { return gone(kv.first); });
  std::erase_if(dir_order_, gone);
  std::erase_if(implied_, gone);
}

void TreeWriter::write_file(int dir, const std::string& name, archive_entry* e, const DataBlocks& data,
                            const std::string& path) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int raw = ::openat(dir, name.c_str(), kFlags, 0600);
  if (raw < 0 && errno == EEXIST) {
    clear(dir, name, false, path);
    raw = ::openat(dir, name.c_str(), kFlags, 0600);
  }
  if (raw < 0) throw_errno("layer entry " + quote(path) + ": creating it");
  UniqueFd fd(raw);
  const void* buf = nullptr;
  size_t n = 0;
  int64_t off = 0;
  int64_t end = 0;
  while (data(&buf, &n, &off)) {
    const char* p = static_cast<const char*>(buf);
    while (n > 0) {
      ssize_t w = ::pwrite(fd.get(), p, n, off);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw_errno("layer entry " + quote(path) + ": writing it");
      }
      p += w;
      n -= static_cast<size_t>(w);
      off += w;
      count_written(static_cast<uint64_t>(w), false, path);
    }
    end = std::max(end, off);
  }
  // Holes at the end of a sparse file.
  if (sym_archive_entry_size(e) > end && ::ftruncate(fd.get(), sym_archive_entry_size(e)) < 0)
    throw_errno("layer entry " + quote(path) + ": sizing it");
  apply_metadata(fd.get(), e, path);
  struct timespec ts[2];
  ts[1] = {sym_archive_entry_mtime(e), sym_archive_entry_mtime_nsec(e)};
  ts[0] =
      sym_archive_entry_atime_is_set(e) ? timespec{sym_archive_entry_atime(e), sym_archive_entry_atime_nsec(e)} : ts[1];
  if (::futimens(fd.get(), ts) < 0) throw_errno("layer entry " + quote(path) + ": setting its times");
}

void TreeWriter::write_dir(int dir, const std::string& name, archive_entry* e, const std::string& path) {
  // A whiteout of this layer, then a directory of the same name: the layer
  // deletes the lower layers' directory and makes a new one (OCI's
  // delete-and-recreate), which must not merge with theirs.
  struct stat st {};
  bool replaces_whiteout = ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && is_overlay_whiteout(st);
  if (::mkdirat(dir, name.c_str(), 0700) < 0 && (errno != EEXIST || (!clear(dir, name, true, path) &&
                                                                      ::mkdirat(dir, name.c_str(), 0700) < 0)))
    throw_errno("layer entry " + quote(path) + ": creating it");
  int fd = fs::open_beneath(dir, name.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw_errno("layer entry " + quote(path) + ": opening it");
  UniqueFd d(fd);
  apply_metadata(d.get(), e, path);
  if (replaces_whiteout) set_overlay_opaque(d.get(), path);
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  implied_.erase(p);
  dir_times_.push_back({p, sym_archive_entry_mtime(e), sym_archive_entry_mtime_nsec(e)});
}

void TreeWriter::write_other(int dir, const std::string& name, archive_entry* e, const std::string& path) {
  clear(dir, name, false, path);
  mode_t mode = sym_archive_entry_perm(e);
  switch (sym_archive_entry_filetype(e)) {
    case AE_IFLNK: {
      const char* target = sym_archive_entry_symlink(e);
      if (::symlinkat(target != nullptr ? target : "", dir, name.c_str()) < 0)
        throw_errno("layer entry " + quote(path) + ": creating the symlink");
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      if (::mknodat(dir, name.c_str(), sym_archive_entry_filetype(e) | mode, sym_archive_entry_rdev(e)) < 0)
        throw_errno("layer entry " + quote(path) + ": creating the node");
      break;
    default:
      fail_entry(path, "has a type a layer cannot hold");
  }
  if (::fchownat(dir, name.c_str(), static_cast<uid_t>(sym_archive_entry_uid(e)),
                 static_cast<gid_t>(sym_archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno("layer entry " + quote(path) + ": setting its owner");
  if (sym_archive_entry_filetype(e) != AE_IFLNK && ::fchmodat(dir, name.c_str(), mode, 0) < 0)
    throw_errno("layer entry " + quote(path) + ": setting its mode");
  set_times(dir, name, e, path);
}

/// The xattrs of the open file `from` set on `to`, but overlayfs's own
/// (`path` names the entry, `what` what is copied, for messages).
void TreeWriter::copy_xattrs(int from, int to, const std::string& path, const std::string& what) {
  ssize_t n = ::flistxattr(from, nullptr, 0);
  if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP)) return;
  if (n < 0) throw_errno("layer entry " + quote(path) + ": listing the xattrs of " + quote(what));
  std::string names(static_cast<size_t>(n), '\0');
  n = ::flistxattr(from, names.data(), names.size());
  if (n < 0) throw_errno("layer entry " + quote(path) + ": listing the xattrs of " + quote(what));
  names.resize(static_cast<size_t>(n));
  for (size_t pos = 0; pos < names.size();) {
    std::string x = names.c_str() + pos;
    pos += x.size() + 1;
    if (x.empty() || is_overlay_xattr(x)) continue;
    ssize_t size = ::fgetxattr(from, x.c_str(), nullptr, 0);
    std::string value(size > 0 ? static_cast<size_t>(size) : 0, '\0');
    if (size < 0 || (size = ::fgetxattr(from, x.c_str(), value.data(), value.size())) < 0)
      throw_errno("layer entry " + quote(path) + ": reading the xattr " + quote(x) + " of " + quote(what));
    if (::fsetxattr(to, x.c_str(), value.data(), static_cast<size_t>(size), 0) == 0) continue;
    if (!may_skip_xattr(x, errno))
      throw_errno("layer entry " + quote(path) + ": setting the xattr " + quote(x) + " of " + quote(what));
  }
}

bool TreeWriter::copy_up(int dir, const std::string& name, const std::string& target, const std::string& path) {
  std::vector<int> lowers;
  for (const auto& fd : lowers_) lowers.push_back(fd.get());
  std::optional<LowerFile> f = find_lower_file(root_.get(), lowers, target);
  if (!f) return false;
  const struct stat& st = f->st;
  std::string context = "layer entry " + quote(path) + ": copying " + quote(target) + " up from the layers below";
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (S_ISLNK(st.st_mode)) {
    char link[PATH_MAX];
    ssize_t n = ::readlinkat(f->dir.get(), f->name.c_str(), link, sizeof link - 1);
    if (n < 0) throw_errno(context);
    link[n] = '\0';
    if (::symlinkat(link, dir, name.c_str()) < 0) throw_errno(context);
  } else if (!S_ISREG(st.st_mode)) {
    if (::mknodat(dir, name.c_str(), st.st_mode & ~07777, st.st_rdev) < 0) throw_errno(context);
  }
  if (!S_ISREG(st.st_mode)) {
    if (::fchownat(dir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        (!S_ISLNK(st.st_mode) && ::fchmodat(dir, name.c_str(), st.st_mode & 07777, 0) < 0) ||
        ::utimensat(dir, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno(context);
    return true;
  }
  UniqueFd in(::openat(f->dir.get(), f->name.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
  UniqueFd out(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!in || !out) throw_errno(context);
  // Its data only: its holes stay holes.
  std::vector<char> buf(128 * 1024);
  for (off_t pos = 0; pos < st.st_size;) {
    off_t data = ::lseek(in.get(), pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;
    off_t hole = data < 0 ? st.st_size : ::lseek(in.get(), data, SEEK_HOLE);
    if (data < 0) data = pos;
    if (hole < 0 || hole > st.st_size) hole = st.st_size;
    for (pos = data; pos < hole;) {
      ssize_t n = ::pread(in.get(), buf.data(), std::min<size_t>(buf.size(), static_cast<size_t>(hole - pos)), pos);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw_errno(context);
      if (::pwrite(out.get(), buf.data(), static_cast<size_t>(n), pos) != n) throw_errno(context);
      count_written(static_cast<uint64_t>(n), false, path);
      pos += n;
    }
    pos = std::max(pos, hole);
  }
  if (::ftruncate(out.get(), st.st_size) < 0 || ::fchown(out.get(), st.st_uid, st.st_gid) < 0 ||
      ::fchmod(out.get(), st.st_mode & 07777) < 0)
    throw_errno(context);
  copy_xattrs(in.get(), out.get(), path, target);
  if (::futimens(out.get(), ts) < 0) throw_errno(context);
  return true;
}

void TreeWriter::write_hardlink(archive_entry* e, const std::string& path) {
  std::string target = sym_archive_entry_hardlink(e);
  // Each lookup may close directories cached by an earlier one: keep copies.
  auto held = [&](const std::string& p, std::string& name) {
    Parent parent = parent_of(p);
    name = parent.name;
    UniqueFd fd(::fcntl(parent.fd, F_DUPFD_CLOEXEC, 0));
    if (!fd) throw_errno("duplicating a file descriptor");
    return fd;
  };
  std::string tname, name;
  UniqueFd tdir = held(target, tname);
  struct stat st {};
  if (::fstatat(tdir.get(), tname.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    // A file of the layers below: copied up into this one, and linked to
    // there, as overlayfs links a lower file (and containerd, linking in
    // the merged view, gets); a link between layers is not possible.
    if (errno != ENOENT || !copy_up(tdir.get(), tname, target, path))
      fail_entry(path, "links to " + quote(target) + ", which is neither in the layer nor in the layers below it");
    if (::fstatat(tdir.get(), tname.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno("layer entry " + quote(path) + ": inspecting " + quote(target));
  }
  if (S_ISDIR(st.st_mode)) fail_entry(path, "is a hard link to a directory");
  // A whiteout deletes a name of the lower layers; a link to it would
  // delete another one, which the layer does not ask for.
  if (is_overlay_whiteout(st)) fail_entry(path, "links to " + quote(target) + ", which the layer deletes (a whiteout)");
  UniqueFd dir = held(path, name);
  clear(dir.get(), name, false, path);
  if (::linkat(tdir.get(), tname.c_str(), dir.get(), name.c_str(), 0) < 0)
    throw_errno("layer entry " + quote(path) + ": linking it to " + quote(target));
}

void TreeWriter::write(archive_entry* e, const DataBlocks& data) {
  std::string path = sym_archive_entry_pathname(e) != nullptr ? sym_archive_entry_pathname(e) : "";
  count_written(0, true, path);
  if (sym_archive_entry_hardlink(e) != nullptr) return write_hardlink(e, path);
  Parent p = parent_of(path);
  switch (sym_archive_entry_filetype(e)) {
    case AE_IFREG: return write_file(p.fd, p.name, e, data, path);
    case AE_IFDIR: return write_dir(p.fd, p.name, e, path);
    default: return write_other(p.fd, p.name, e, path);
  }
}

void TreeWriter::remove_path(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  check_name(path, name);
  UniqueFd parent(dir.empty() ? ::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0)
                              : fs::open_beneath(root_.get(), dir.c_str(), O_RDONLY | O_DIRECTORY));
  // Gone with a directory a later entry replaced.
  if (!parent && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)) return;
  if (!parent) throw_errno("opening " + quote(dir));
  struct stat st {};
  if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_errno("layer entry " + quote(path));
  }
  remove(parent.get(), name, S_ISDIR(st.st_mode), path, "removing it");
}

void TreeWriter::finish() {
  std::vector<int> lowers;
  for (const auto& fd : lowers_) lowers.push_back(fd.get());
  // In sorted order, which a walk of the tree keeps (merged.below()).
  std::optional<MergedDirs> merged;
  if (!lowers.empty()) merged.emplace(root_.get(), lowers);
  for (const auto& path : implied_) {
    // Below an opaque directory (one this layer deleted and made anew, or
    // whose lower content it hides), the lower layers' directory of that
    // path is hidden.
    std::optional<struct stat> below;
    if (merged) below = merged->below(path);
    int d = existing_dir(path);
    if (d < 0) throw_errno("opening " + quote(path));
    if (!below) {
      // None below: the writer's (root, for crt; not a setgid parent's
      // group), 0755 and the epoch, not the umask's mode and the time it
      // was made. A rootfs tarball without directory entries then archives
      // as the same layer (the same image ID) at every import.
      if (::fchown(d, ::geteuid(), ::getegid()) < 0 || ::fchmod(d, 0755) < 0)
        throw_errno("setting the owner and mode of " + quote(path));
      dir_times_.push_back({path, 0, 0});
      continue;
    }
    if (::fchown(d, below->st_uid, below->st_gid) < 0 || ::fchmod(d, below->st_mode & 07777) < 0)
      throw_errno("setting the owner and mode of " + quote(path) + " as the layers below have it");
    dir_times_.push_back({path, below->st_mtim.tv_sec, below->st_mtim.tv_nsec});
  }
  // Nothing is written into the tree any more, so the order the times are
  // set in changes none: parents first, each directory opened from its
  // parent's descriptor (a lookup from the root for each would cost a deep
  // tree its depth squared). A directory the layer lists twice keeps the
  // time of its first entry.
  std::unordered_set<std::string> done;
  for (const auto& t : dir_times_) {
    if (!done.insert(t.path).second) continue;
    struct timespec ts[2] = {{t.sec, t.nsec}, {t.sec, t.nsec}};
    int d = existing_dir(t.path);
    if (d < 0) continue;  // replaced by a later entry
    if (::futimens(d, ts) < 0) throw_errno("setting the times of " + quote(t.path));
  }
}

}  // namespace crt::store
