#include "store/archive_util.hpp"

#include <fcntl.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

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

namespace {

/// The ACL of `type` an entry has, in the kernel's xattr form
/// (linux/posix_acl_xattr.h, little-endian); empty for none beyond its mode.
std::string posix_acl_xattr(archive_entry* e, int type) {
  struct Ace {
    uint16_t tag, perm;
    uint32_t id;
  };
  constexpr auto kNoId = static_cast<uint32_t>(ACL_UNDEFINED_ID);
  std::vector<Ace> aces;
  if (sym_archive_entry_acl_reset(e, type) <= 0) return {};
  int got = 0, perms = 0, tag = 0, qual = 0;
  const char* name = nullptr;
  while (sym_archive_entry_acl_next(e, type, &got, &perms, &tag, &qual, &name) == ARCHIVE_OK) {
    auto perm = static_cast<uint16_t>(perms & (ACL_READ | ACL_WRITE | ACL_EXECUTE));
    auto id = static_cast<uint32_t>(qual);
    switch (tag) {
      case ARCHIVE_ENTRY_ACL_USER_OBJ:
        aces.push_back({ACL_USER_OBJ, perm, kNoId});
        break;
      case ARCHIVE_ENTRY_ACL_USER:
        aces.push_back({ACL_USER, perm, id});
        break;
      case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
        aces.push_back({ACL_GROUP_OBJ, perm, kNoId});
        break;
      case ARCHIVE_ENTRY_ACL_GROUP:
        aces.push_back({ACL_GROUP, perm, id});
        break;
      case ARCHIVE_ENTRY_ACL_MASK:
        aces.push_back({ACL_MASK, perm, kNoId});
        break;
      case ARCHIVE_ENTRY_ACL_OTHER:
        aces.push_back({ACL_OTHER, perm, kNoId});
        break;
      default:
        break;  // NFSv4's: none on Linux
    }
  }
  if (aces.empty()) return {};
  // The kernel takes an ACL in this order only: by tag, then by id.
  std::sort(aces.begin(), aces.end(),
            [](const Ace& a, const Ace& b) { return a.tag != b.tag ? a.tag < b.tag : a.id < b.id; });
  std::string out;
  auto put = [&out](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  put(POSIX_ACL_XATTR_VERSION, 4);
  for (const Ace& a : aces) {
    put(a.tag, 2);
    put(a.perm, 2);
    put(a.id, 4);
  }
  return out;
}

}  // namespace

void acls_as_xattrs(archive_entry* e) {
  for (auto [type, name] : {std::pair{ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access"},
                            std::pair{ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default"}}) {
    std::string x = posix_acl_xattr(e, type);
    if (!x.empty()) sym_archive_entry_xattr_add_entry(e, name, x.data(), x.size());
  }
}

bool is_whiteout_device(archive_entry* e) {
  return sym_archive_entry_filetype(e) == AE_IFCHR && sym_archive_entry_rdev(e) == 0 &&
         sym_archive_entry_hardlink(e) == nullptr;
}

void refuse_whiteout_device(const std::string& shown) {
  throw Error(shown + " is a 0/0 character device, which overlayfs would take for a whiteout");
}

}  // namespace crt::store
