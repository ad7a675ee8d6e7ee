#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "common/fd.hpp"
#include "store/byte_source.hpp"
#include "store/libarchive.hpp"

namespace crt::store {

struct ArchiveDeleter {
  void operator()(archive* a) const { sym_archive_free(a); }
};
/// A libarchive reader or writer, freed on destruction.
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

struct EntryDeleter {
  void operator()(archive_entry* e) const { sym_archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

/// Throws crt::Error with `what` and libarchive's message unless `rc` is OK
/// or a warning.
void check_archive(archive* a, int rc, const std::string& what);

/// A reader of the tar archive (plain or compressed) at `path`, opened;
/// throws crt::Error naming it.
ArchivePtr open_tar_file(const std::filesystem::path& path);

/// The data of the entry a reader has just read the header of; `shown`
/// names it in errors ("'x' in '/a.tar'"). The reader is not owned.
class EntryDataSource : public ByteSource {
 public:
  EntryDataSource(archive* in, std::string shown) : in_(in), shown_(std::move(shown)) {}
  size_t read(void* buf, size_t n) override;
  [[nodiscard]] std::string describe() const override { return shown_; }

 private:
  archive* in_;
  std::string shown_;
};

/// The options crt extracts with: owners (numeric), modes, times, xattrs and
/// ACLs kept; runs of zeros made holes (a sparse file stays sparse: one that
/// claims terabytes must not take them); entries that would land outside
/// the tree refused.
int secure_extract_flags();

/// Restores the working directory on destruction (archive_write_disk works
/// relative to it). Declare it before the archive it serves, so the archive
/// is freed (and applies its deferred fixups) while still inside the tree.
class CwdGuard {
 public:
  explicit CwdGuard(const std::filesystem::path& dir);
  ~CwdGuard();
  CwdGuard(const CwdGuard&) = delete;
  CwdGuard& operator=(const CwdGuard&) = delete;

 private:
  UniqueFd saved_;
};

/// An entry path relative to the archive's root, in one spelling: without
/// the leading "/" and "./" it may have, empty and "." components and a
/// trailing "/" ("./a//./b/" is "a/b", "./" is ""); ".." components stay.
std::string clean_entry_path(const char* p);

/// Refuses an entry of a layer or a rootfs tarball that names what no tree
/// can hold: a path (`path`, or `link`, its hard link's target; both
/// cleaned, `link` empty for none) of PATH_MAX bytes or more, or a hard link
/// to itself. `shown` names an entry path in the error ("layer entry 'x'",
/// "'x' in '/a.tar'"): the same words for both, each as it names entries.
void check_entry_paths(const std::string& path, const std::string& link,
                       const std::function<std::string(const std::string&)>& shown);

/// Gives an entry's POSIX.1e ACLs (a tar's SCHILY.acl.access and .default,
/// which libarchive reads as ACLs, not xattrs) as the xattrs
/// system.posix_acl_access and system.posix_acl_default: the form OCI
/// tools write them in, which TreeWriter sets.
void acls_as_xattrs(archive_entry* e);

/// Whether an entry is a 0/0 character device (not a hard link to one),
/// which overlayfs would take for a whiteout; `shown` names it in the
/// error that refuse_whiteout_device() throws.
bool is_whiteout_device(archive_entry* e);
[[noreturn]] void refuse_whiteout_device(const std::string& shown);

}  // namespace crt::store
