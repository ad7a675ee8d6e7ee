#include "store/archive_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::store {

void check_archive(archive* a, int rc, const std::string& what) {
  if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN) return;
  const char* msg = sym_archive_error_string(a);
  std::string said = msg != nullptr ? msg : "unknown error";
  // libarchive's messages of the system's errors ("Write failed", "Can't
  // create 'x'", "Could not open d") leave out why (ENOSPC, EMFILE, EIO …):
  // its errno says. Not its codes of its own, which are errnos here too: a
  // damaged archive's (ARCHIVE_ERRNO_FILE_FORMAT, EILSEQ on Linux) and a
  // misuse's (ARCHIVE_ERRNO_PROGRAMMER, EINVAL).
  if (int err = sym_archive_errno(a);
      err > 0 && err != EILSEQ && err != EINVAL && said.find(std::strerror(err)) == std::string::npos)
    said += ": " + std::string(std::strerror(err));
  throw Error(what + ": " + said);
}

size_t EntryDataSource::read(void* buf, size_t n) {
  la_ssize_t r = sym_archive_read_data(in_, buf, n);
  if (r < 0) check_archive(in_, ARCHIVE_FATAL, "reading " + shown_);
  return static_cast<size_t>(r);
}

ArchivePtr open_tar_file(const std::filesystem::path& path) {
  ArchivePtr in(sym_archive_read_new());
  if (!in) throw Error("allocating a libarchive reader");
  sym_archive_read_support_filter_all(in.get());
  sym_archive_read_support_format_tar(in.get());
  sym_archive_read_support_format_gnutar(in.get());
  check_archive(in.get(), sym_archive_read_open_filename(in.get(), path.c_str(), 1 << 16),
                "opening " + quote(path.string()));
  return in;
}

int secure_extract_flags() {
  return ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
         ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
         ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SPARSE;
}

CwdGuard::CwdGuard(const std::filesystem::path& dir) : saved_(fs::open_fd(".", O_RDONLY | O_DIRECTORY)) {
  if (::chdir(dir.c_str()) < 0) throw_errno("entering " + quote(dir.string()));
}

CwdGuard::~CwdGuard() { (void)::fchdir(saved_.get()); }

std::string clean_entry_path(const char* p) {
  // "/etc", ".//etc", "etc/", "a//b", "a/./b": as docker and containerd take
  // them (Go's filepath.Clean), the tree's etc and a/b. ".." stays, for the
  // writer to refuse: the tree's root has no parent to lead to.
  std::string_view s = p != nullptr ? p : "";
  std::string out;
  while (!s.empty()) {
    size_t slash = s.find('/');
    std::string_view comp = s.substr(0, slash);
    s = slash == std::string_view::npos ? std::string_view() : s.substr(slash + 1);
    if (comp.empty() || comp == ".") continue;
    if (!out.empty()) out += '/';
    out += comp;
  }
  return out;
}

void check_entry_paths(const std::string& path, const std::string& link,
                       const std::function<std::string(const std::string&)>& shown) {
  // No path of a tree can be as long; a longer one would only cost memory
  // and stack while its directories are made (40000 levels took 1.5 GB and
  // the stack), or make files no path can name.
  for (const std::string& p : {path, link})
    if (p.size() >= PATH_MAX)
      throw Error(shown(p.substr(0, 64) + "…") + " has a path of " + std::to_string(p.size()) +
                  " bytes, longer than the kernel's PATH_MAX");
  if (!link.empty() && link == path) throw Error(shown(path) + " is a hard link to itself");
}

bool is_whiteout_device(archive_entry* e) {
  return sym_archive_entry_filetype(e) == AE_IFCHR && sym_archive_entry_rdev(e) == 0 &&
         sym_archive_entry_hardlink(e) == nullptr;
}

void refuse_whiteout_device(const std::string& shown) {
  throw Error(shown + " is a 0/0 character device, which overlayfs would take for a whiteout");
}

}  // namespace crt::store
