#include "mount/mounts.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include "common/error.hpp"
#include "common/fd.hpp"

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
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0)
    throw_errno("making the mount namespace private");
}

int original_mount_namespace() { return saved_mount_namespace().get(); }

}  // namespace crt::mount
