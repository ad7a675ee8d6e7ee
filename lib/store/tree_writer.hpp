#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <functional>
#include <list>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/fd.hpp"
#include "common/message.hpp"

namespace crt::store {

/// Writes the entries of a layer into a tree, fd-relative: every parent
/// directory is opened beneath the tree's root without following a symlink
/// (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and kept open for the
/// entries that follow, so a file costs one open — where libarchive's
/// archive_write_disk checks each path component on every entry. Owners
/// (numeric), modes (set after the owner, so setuid bits stay), xattrs
/// (after the owner, so security.capability stays) and times are applied;
/// directory times last, once their content is written. Xattrs are set on
/// files and directories (symlinks and device nodes keep none); ACLs travel
/// as their system.posix_acl_* xattrs, as OCI tools write them.
///
/// A directory the layer does not list but holds entries in is made as the
/// directory of that path in the layers below (`lowers`) is: its owner, mode
/// and times, as overlayfs would copy it up when a file is written into it
/// (a layer's "tmp/x" keeps the base's /tmp 1777), else the writer's (root),
/// 0755, with the time of the epoch (the same at every import, not when it
/// was made).
///
/// A hard link to a file the layer does not have but the layers below do
/// links to a copy of it made in this layer, as overlayfs would copy it up.
///
/// A layer that unpacks to more than its file system holds (a gzip "bomb":
/// a few MiB of zeros that unpack to GiB) is stopped while there is still
/// room: at 1% of the file system free (at least 16 MiB, at most 256 MiB),
/// or 1% of its inodes, looked at every 8 MiB and 1024 entries written.
class TreeWriter {
 public:
  /// `lowers`: the trees of the layers below this one, lowest first.
  /// `warnings`, when given, is told of each xattr left out (one the file
  /// system keeps none of), naming its entry.
  explicit TreeWriter(int root_fd, const std::vector<std::filesystem::path>& lowers = {}, MessageSink warnings = {});

  /// Reads the next data block of the current entry: false at its end.
  using DataBlocks = std::function<bool(const void** buf, size_t* size, int64_t* offset)>;

  /// Creates the entry `e` (pathname already cleaned; hard link targets too).
  /// An entry whose path leaves the tree, passes through a symlink, or is
  /// absolute is an error; nothing is written outside the tree.
  void write(archive_entry* e, const DataBlocks& data);

  /// Removes the entry `path` (cleaned) and all below it, if the tree has it.
  void remove_path(const std::string& path);

  /// The overlayfs form of the whiteout ".wh.NAME" in `dir` (cleaned):
  /// make_overlay_whiteout().
  void whiteout(const std::string& dir, const std::string& name);
  /// Marks the directory `dir` (cleaned) opaque (".wh..wh..opq").
  void opaque(const std::string& dir);

  /// Sets the metadata of the directories the layer implies and the times
  /// of the directories written.
  void finish();

 private:
  struct Parent {
    int fd;
    std::string name;  ///< last component
  };
  /// The directory holding `path` (created when missing) and the last name.
  Parent parent_of(const std::string& path);
  /// The directory `dir`, created when missing; `path` names the entry for
  /// messages.
  int dir_fd(const std::string& dir);
  /// The directory `dir` as the tree has it now, without making it; -1
  /// (errno set) when it has none there.
  int existing_dir(const std::string& dir);
  /// Keeps `fd`, open on `dir`, among the open directories; its number.
  int cache_dir(const std::string& dir, UniqueFd fd);
  /// `dir` checked as a directory of entry `path` and opened (made when missing).
  int entry_dir(const std::string& dir, const std::string& path);
  void write_file(int dir, const std::string& name, archive_entry* e, const DataBlocks& data, const std::string& path);
  void write_dir(int dir, const std::string& name, archive_entry* e, const std::string& path);
  void write_other(int dir, const std::string& name, archive_entry* e, const std::string& path);
  void write_hardlink(archive_entry* e, const std::string& path);
  /// Copies the file `target` of the layers below (lower), with its owner,
  /// mode, xattrs and times, to `name` in `dir`, for the hard link `path`
  /// to it; false when they have no such file (find_lower_file()).
  bool copy_up(int dir, const std::string& name, const std::string& target, const std::string& path);
  void copy_xattrs(int from, int to, const std::string& path, const std::string& what);
  /// Makes room for a new entry: removes what is there unless both are directories.
  bool clear(int dir, const std::string& name, bool want_dir, const std::string& path);
  /// Removes `name` in `dir` (`path` in the tree), a directory with all
  /// below it; `what` says why in an error.
  void remove(int dir, const std::string& name, bool is_dir, const std::string& path, const std::string& what);

  /// Owner, mode and xattrs of an open file or directory.
  void apply_metadata(int fd, archive_entry* e, const std::string& path);
  /// Counts `bytes` written (and an entry when `entry`); each few MiB or
  /// thousand entries, stops the unpacking (throws, naming `path`) when
  /// the tree's file system is nearly full.
  void count_written(uint64_t bytes, bool entry, const std::string& path);

  UniqueFd root_;
  MessageSink warnings_;
  /// Open directories by path ("" is the root); bounded, oldest dropped.
  std::unordered_map<std::string, UniqueFd> dirs_;
  std::list<std::string> dir_order_;
  struct DirTime {
    std::string path;
    int64_t sec, nsec;
  };
  std::vector<DirTime> dir_times_;
  std::vector<UniqueFd> lowers_;  ///< highest first
  /// Directories made for entries below them, not (yet) listed by the layer.
  std::set<std::string> implied_;
  uint64_t bytes_unchecked_ = 0;
  uint64_t entries_unchecked_ = 0;
};

}  // namespace crt::store
