#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"

struct open_how;

namespace crt::fs {

namespace stdfs = std::filesystem;

/// crt's directory in /run: locks of the host's, and sockets whose path
/// in a pod's directory would be too long.
inline constexpr const char* kRunDir = "/run/crt";

/// Reads a whole file, or its first `max` bytes.
std::string read_file(const stdfs::path& path, size_t max = std::string::npos);

/// `path` lexically normal ("." and ".." resolved, slashes single) and
/// without a trailing slash, but for "/": one spelling of what it names.
std::string normal_path(const std::string& path);
/// All that is left to read from `fd`, or its first `max` bytes; errors say
/// "reading `name`".
std::string read_fd(int fd, const std::string& name, size_t max = std::string::npos);

/// Whether a write must reach the disk before it becomes visible.
enum class Durability {
  kSynced,  ///< fsync before rename, and of the directory after: for what must survive a crash (the store)
  /// fsync before rename only: the caller syncs the directory (sync_dir()) once after several such writes.
  kSyncedFile,
  kCached,  ///< no fsync: for a pod's own files, which a crash makes garbage anyway
};

/// Writes `content` to `path` atomically: a temp file in the same directory,
/// then renamed over `path`.
void write_file_atomic(const stdfs::path& path, std::string_view content, mode_t mode = 0644,
                       Durability durability = Durability::kSynced);

/// What `mode` is, for "is a ..." messages; empty for a regular file.
std::string file_kind(mode_t mode);

/// Throws unless `path` is missing or a regular file: what write_file_atomic()
/// would put a file in place of (a device, a FIFO, a link, a directory);
/// the message says "`replacer` replaces only a regular file". Whether it
/// exists.
bool check_replaceable(const stdfs::path& path, std::string_view replacer = "crt");

/// fsyncs the directory `dir`: the renames into it so far survive a crash.
void sync_dir(const stdfs::path& dir);

/// Creates `path` and missing parents with `mode`; fine if it exists.
void make_dirs(const stdfs::path& path, mode_t mode = 0755);

/// Removes a tree without ever crossing into another file system, so a
/// leftover mount inside it is never emptied. Throws if one is found.
void remove_tree(const stdfs::path& path);

/// Removes `name` in the directory `dir_fd` and all below it, as
/// remove_tree() does, never following a symlink out of it (`shown`: its
/// path in messages).
void remove_tree_at(int dir_fd, const std::string& name, const std::string& shown);

/// The names in the directory open as `fd` but "." and "..", in the order
/// readdir gives them (`shown`: its path in messages).
std::vector<std::string> list_names(int fd, const std::string& shown);

/// Writes all of `data` to `fd`, as write_all_noexcept() does; throws a
/// crt::Error with `what` and the error's message.
void write_all(int fd, std::string_view data, const std::string& what);

/// Writes all of `data` to `fd`, retrying short writes and EINTR, and
/// waiting (poll) while `fd`, non-blocking, is full. Never throws and calls
/// only write() and poll(), which are async-signal-safe: for a child after
/// fork(), or a thread that must go on. Returns 0, or the errno it failed
/// with (EIO for a write that took nothing).
[[nodiscard]] int write_all_noexcept(int fd, std::string_view data) noexcept;

/// Opens `path` with O_CLOEXEC added.
UniqueFd open_fd(const stdfs::path& path, int flags, mode_t mode = 0);

/// A file without a name in directory `dir` (O_TMPFILE, with `flags`' access
/// mode), gone however the process ends; an invalid descriptor where the
/// file system cannot make one. Other failures throw with `what`.
UniqueFd open_unnamed(const stdfs::path& dir, int flags, mode_t mode, const std::string& what);

/// openat2(2), called again while it fails with EAGAIN. A lookup scoped by
/// RESOLVE_IN_ROOT or RESOLVE_BENEATH that steps on ".." (a relative symlink
/// such as busybox's /usr/bin/wc -> ../../bin/busybox) fails so whenever a
/// rename or a mount anywhere on the machine races it; pods mount all the
/// time. Returns the descriptor, or -1 with errno.
int openat2(int dir_fd, const char* path, const struct open_how& how);

/// Opens `path` below `dir_fd` without following any symlink (the last
/// component's included) or crossing a mount: what a layer's own paths may
/// take. Returns the descriptor, or -1 with errno.
int open_beneath(int dir_fd, const char* path, int flags);

/// Resolves `path` inside the tree at `root_fd` the way a process chrooted
/// there would (openat2 RESOLVE_IN_ROOT): symlinks and ".." never leave it.
UniqueFd open_in_root(int root_fd, std::string_view path, int flags, mode_t mode = 0);

/// Six random letters and digits, for a name of one's own beside others'.
std::string random_suffix();

/// A directory removed on destruction unless released.
class TempDir {
 public:
  /// Creates a fresh directory `prefix.XXXXXX`.
  explicit TempDir(const stdfs::path& prefix);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const stdfs::path& path() const { return path_; }
  /// Keeps the directory.
  stdfs::path release();

 private:
  stdfs::path path_;
};

}  // namespace crt::fs
