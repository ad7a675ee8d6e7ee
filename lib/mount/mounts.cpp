#include "mount/mounts.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/libmount.hpp"

namespace crt::mount {

namespace {

UniqueFd& saved_mount_namespace() {
  static UniqueFd fd;
  return fd;
}

}  // namespace

void bind_mount(const std::filesystem::path& source, const std::filesystem::path& target, bool recursive) {
  unsigned long flags = MS_BIND | (recursive ? MS_REC : 0);
  if (::mount(source.c_str(), target.c_str(), nullptr, flags, nullptr) < 0)
    throw_errno("bind-mounting " + quote(source.string()) + " on " + quote(target.string()));
}

void mount_tmpfs(const std::filesystem::path& target) {
  if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
    throw_errno("mounting a tmpfs on " + quote(target.string()));
}

void enter_private_mount_namespace() {
  if (!saved_mount_namespace()) {
    int fd = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno("opening the host's mount namespace");
    saved_mount_namespace().reset(fd);
  }
  if (::unshare(CLONE_NEWNS) < 0) throw_errno("creating a mount namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) {
    // As in a chroot into a directory that is no mount point itself.
    if (errno == EINVAL)
      throw Error(
          "making the mount namespace private: '/' is no mount point here (a chroot?): crt needs its root "
          "directory to be one, as a booted system's is (for a chroot: mount --bind DIR DIR, then chroot DIR)");
    throw_errno("making the mount namespace private");
  }
}

int original_mount_namespace() { return saved_mount_namespace().get(); }

std::vector<std::string> mounts_below(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  MntTable table(mnt_new_table_from_file("/proc/self/mountinfo"));
  if (!table) return out;
  MntIter it(mnt_new_iter(MNT_ITER_FORWARD));
  std::string prefix = dir.string();
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table.get(), it.get(), &fs) == 0) {
    const char* target = mnt_fs_get_target(fs);
    if (target == nullptr) continue;
    std::string t = target;
    if (t == prefix || t.rfind(prefix + "/", 0) == 0) out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace crt::mount
