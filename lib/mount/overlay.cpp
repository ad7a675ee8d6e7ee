#include "mount/overlay.hpp"

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

std::string escape_option_path(const std::string& p) {
  std::string out;
  for (char c : p) {
    if (c == ':' || c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string overlay_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work) {
  if (lowers.empty()) throw Error("an overlay needs at least one lower layer");
  std::string lowerdir;
  for (auto it = lowers.rbegin(); it != lowers.rend(); ++it) {
    if (!lowerdir.empty()) lowerdir += ':';
    lowerdir += escape_option_path(it->string());
  }
  return "lowerdir=" + lowerdir + ",upperdir=" + escape_option_path(upper.string()) +
         ",workdir=" + escape_option_path(work.string());
}

void mount_overlay(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                   const std::filesystem::path& work, const std::filesystem::path& target, UpperSync sync) {
  std::string data = overlay_options(lowers, upper, work);
  if (data.size() >= 4096)
    throw Error("mounting " + quote(target.string()) + ": the image has too many layers for one overlay mount");
  // Kernels before 5.10 do not know "volatile" (EINVAL): they get a synced one.
  if (std::string v = data + ",volatile"; sync == UpperSync::kVolatile && v.size() < 4096) {
    if (::mount("overlay", target.c_str(), "overlay", 0, v.c_str()) == 0) return;
    if (errno != EINVAL) throw_errno("mounting an overlay on " + quote(target.string()));
  }
  if (::mount("overlay", target.c_str(), "overlay", 0, data.c_str()) < 0)
    throw_errno("mounting an overlay on " + quote(target.string()));
}

namespace {
std::filesystem::path volatile_marker(const std::filesystem::path& work) {
  return work / "work" / "incompat" / "volatile";  // a directory, with a file in it
}
}  // namespace

bool has_volatile_marker(const std::filesystem::path& work) {
  std::error_code ec;
  return std::filesystem::exists(volatile_marker(work), ec);
}

void clear_volatile_marker(const std::filesystem::path& work) {
  std::filesystem::path marker = volatile_marker(work);
  std::error_code ec;
  std::filesystem::remove_all(marker, ec);
  if (ec) throw Error("removing " + quote(marker.string()) + ": " + ec.message());
}

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
