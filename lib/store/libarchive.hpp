#pragma once

// libarchive, opened when crt first reads or writes a tar archive
// (common/late_library.hpp): crt calls its functions as sym_<function>.

#include <archive.h>
#include <archive_entry.h>

#include <utility>

#include "common/late_library.hpp"

static_assert(ARCHIVE_VERSION_NUMBER / 1000000 == 3, "crt opens libarchive.so.13: built against another libarchive");

#define CRT_LIBARCHIVE_FUNCTIONS(X)          \
  X(archive_entry_acl_next)                  \
  X(archive_entry_acl_reset)                 \
  X(archive_entry_atime)                     \
  X(archive_entry_atime_is_set)              \
  X(archive_entry_atime_nsec)                \
  X(archive_entry_copy_hardlink)             \
  X(archive_entry_copy_pathname)             \
  X(archive_entry_copy_sourcepath)           \
  X(archive_entry_filetype)                  \
  X(archive_entry_free)                      \
  X(archive_entry_gid)                       \
  X(archive_entry_hardlink)                  \
  X(archive_entry_linkify)                   \
  X(archive_entry_linkresolver_free)         \
  X(archive_entry_linkresolver_new)          \
  X(archive_entry_linkresolver_set_strategy) \
  X(archive_entry_mtime)                     \
  X(archive_entry_mtime_nsec)                \
  X(archive_entry_new)                       \
  X(archive_entry_pathname)                  \
  X(archive_entry_perm)                      \
  X(archive_entry_rdev)                      \
  X(archive_entry_set_fflags)                \
  X(archive_entry_set_filetype)              \
  X(archive_entry_set_gid)                   \
  X(archive_entry_set_gname)                 \
  X(archive_entry_set_mtime)                 \
  X(archive_entry_set_pathname)              \
  X(archive_entry_set_perm)                  \
  X(archive_entry_set_size)                  \
  X(archive_entry_set_uid)                   \
  X(archive_entry_set_uname)                 \
  X(archive_entry_size)                      \
  X(archive_entry_sparse_add_entry)          \
  X(archive_entry_symlink)                   \
  X(archive_entry_uid)                       \
  X(archive_entry_unset_atime)               \
  X(archive_entry_unset_birthtime)           \
  X(archive_entry_unset_ctime)               \
  X(archive_entry_xattr_add_entry)           \
  X(archive_entry_xattr_clear)               \
  X(archive_entry_xattr_next)                \
  X(archive_entry_xattr_reset)               \
  X(archive_errno)                           \
  X(archive_error_string)                    \
  X(archive_filter_code)                     \
  X(archive_free)                            \
  X(archive_read_data)                       \
  X(archive_read_data_block)                 \
  X(archive_read_disk_entry_from_file)       \
  X(archive_read_disk_new)                   \
  X(archive_read_disk_set_behavior)          \
  X(archive_read_new)                        \
  X(archive_read_next_header)                \
  X(archive_read_open)                       \
  X(archive_read_open_filename)              \
  X(archive_read_support_filter_all)         \
  X(archive_read_support_filter_gzip)        \
  X(archive_read_support_filter_zstd)        \
  X(archive_read_support_format_gnutar)      \
  X(archive_read_support_format_raw)         \
  X(archive_read_support_format_tar)         \
  X(archive_set_error)                       \
  X(archive_write_close)                     \
  X(archive_write_data)                      \
  X(archive_write_data_block)                \
  X(archive_write_disk_new)                  \
  X(archive_write_disk_set_options)          \
  X(archive_write_fail)                      \
  X(archive_write_finish_entry)              \
  X(archive_write_header)                    \
  X(archive_write_new)                       \
  X(archive_write_open2)                     \
  X(archive_write_open_fd)                   \
  X(archive_write_set_bytes_in_last_block)   \
  X(archive_write_set_format_pax_restricted)

namespace crt::store {

struct LibArchive {
  CRT_LIBARCHIVE_FUNCTIONS(CRT_LATE_FIELD)
};

/// The table, libarchive opened on the first call. Throws crt::Error.
const LibArchive& libarchive();

#define CRT_LIBARCHIVE_WRAPPER(name)                       \
  template <typename... Args>                              \
  auto sym_##name(Args&&... args) {                        \
    return libarchive().name(std::forward<Args>(args)...); \
  }
CRT_LIBARCHIVE_FUNCTIONS(CRT_LIBARCHIVE_WRAPPER)
#undef CRT_LIBARCHIVE_WRAPPER

}  // namespace crt::store
