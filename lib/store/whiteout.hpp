#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"

namespace crt::store {

/// What an entry of an OCI layer means for the layers below it.
struct WhiteoutKind {
  enum class Type {
    kNone,      ///< an ordinary entry
    kWhiteout,  ///< ".wh.NAME": NAME of the lower layers is deleted
    kOpaque,    ///< ".wh..wh..opq": the directory hides its lower contents
    /// another ".wh..wh." name, or an entry below one: AUFS metadata
    /// (".wh..wh.plnk/", its hard links' directory, ".wh..wh.orph/",
    /// ".wh..wh.aufs"), none of the image's files
    kReserved,
  };
  Type type = Type::kNone;
  std::string dir;   ///< directory holding the entry ("" for the root)
  std::string name;  ///< the deleted name (kWhiteout)
  std::string aufs;  ///< the ".wh..wh." entry it is or is below (kReserved)
};

/// Classifies the entry path `path` (relative, cleaned of "./"). Throws when
/// a whiteout names nothing valid (".wh.", ".wh..", ".wh...").
WhiteoutKind classify_whiteout(std::string_view path);

/// The overlayfs form of a whiteout: a 0/0 character device `name` in the
/// open directory `dir_fd` (`dir` in the tree, for messages). A directory
/// `name` of this same layer stays and becomes opaque (it hides the lower
/// layers' as the whiteout would); another entry of that name stays as it is.
void make_overlay_whiteout(int dir_fd, const std::string& dir, const std::string& name);

/// Marks the open directory `dir_fd` (`dir` in the tree, for messages)
/// opaque: trusted.overlay.opaque=y.
void set_overlay_opaque(int dir_fd, const std::string& dir);

/// Opens the directory `name` in `parent_fd` (`path` in the tree, for
/// messages) without following a symlink, creating it when missing. A
/// whiteout of this same layer in its place gives way to an opaque directory:
/// the layer deletes the lower layers' and makes it again (OCI's
/// delete-and-recreate). Anything else in the way is an error. `made`, when
/// given, says whether it made the directory where nothing was.
UniqueFd open_layer_dir(int parent_fd, const std::string& name, const std::string& path, bool* made = nullptr);

/// The directories of the merged view (overlayfs's) of the layer trees
/// below a tree being written, as a layer's implied directories take their
/// metadata from them. Each lookup goes on from the state of its parent's
/// path, kept from the lookup before (a stack, as a walk keeps it): paths
/// given in sorted order — those below one directory come together — cost
/// a lookup of one name per tree each, whatever their depth, where a lookup
/// from the roots would cost a deep tree its depth squared.
class MergedDirs {
 public:
  /// `upper`: the root of the tree being written; `lowers`: the roots of
  /// the layer trees below it, highest first. Both stay open while this is
  /// used.
  MergedDirs(int upper, const std::vector<int>& lowers);
  MergedDirs(const MergedDirs&) = delete;
  MergedDirs& operator=(const MergedDirs&) = delete;
  ~MergedDirs();

  /// The directory `path` (relative, cleaned, not the root) as the merged
  /// view of the lower trees shows it: its stat in the highest tree that
  /// has it, or none when none has it as a directory or something hides
  /// it first (a whiteout, a file or a symlink on its path, an opaque
  /// directory above it in a higher tree that lacks it, or one of the upper
  /// tree's directories above it that is opaque). What cannot be read in a
  /// lower tree counts as missing; a directory of `path` missing in the
  /// upper tree is an error.
  std::optional<struct stat> below(const std::string& path);

  /// How many names have been looked up so far, in all trees: for tests.
  [[nodiscard]] uint64_t lookups() const { return lookups_; }

 private:
  struct InTree;
  struct Level;
  /// The level of `name` below the deepest one.
  void push(const std::string& name);
  /// Leaves the deepest level, opening the one above again if it was closed.
  void pop();

  std::vector<Level> levels_;  ///< from the roots down
  uint64_t lookups_ = 0;
};

/// A file of a lower layer's tree: the directory that holds it, open.
struct LowerFile {
  UniqueFd dir;
  std::string name;
  struct stat st {};
};

/// The file (not a directory) at `path` (relative, cleaned) as the merged
/// view of the trees `lowers` (open roots, highest first) shows it below
/// the tree `upper`: none when no tree has it, or something hides it first
/// (a whiteout, a file or a symlink on its path, an opaque directory above
/// it in a higher tree, or in `upper`). A directory there is none either.
std::optional<LowerFile> find_lower_file(int upper, const std::vector<int>& lowers, const std::string& path);

/// Whether a file is overlayfs's whiteout (a 0/0 character device).
bool is_overlay_whiteout(const struct stat& st);

/// Whether the directory `dir` is overlayfs-opaque (trusted.overlay.opaque=y).
bool is_overlay_opaque(const std::filesystem::path& dir);

/// Whether an xattr name belongs to overlayfs itself (a layer may not set it:
/// it would change what the overlay shows): trusted.overlay.*. crt's
/// overlays are not mounted with userxattr, so user.overlay.* is a file's
/// own, which an app may set, and is kept.
bool is_overlay_xattr(std::string_view name);

/// Whether a file name (no directory) begins as OCI's whiteouts do
/// (".wh."): in a layer, such a file is read as a whiteout.
bool has_whiteout_prefix(std::string_view name);

}  // namespace crt::store
