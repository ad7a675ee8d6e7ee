#include "mount/volume_mounts.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "mount/app_plan.hpp"
#include "mount/in_root.hpp"
#include "store/layer_import.hpp"

namespace crt::mount {

namespace stdfs = std::filesystem;

stdfs::path volume_source(const pod::Volume& v, const stdfs::path& volumes_dir, bool& created) {
  created = false;
  if (v.kind == "host") {
    struct stat st {};
    if (::stat(v.source.c_str(), &st) < 0) throw_errno("source " + quote(v.source));
    return v.source;
  }
  stdfs::path dir = volumes_dir / v.name;
  if (v.kind == "empty") {
    if (::mkdir(dir.c_str(), v.mode.value_or(0755)) == 0) {
      created = true;
      if (v.mode && ::chmod(dir.c_str(), *v.mode) < 0) throw_errno("setting the mode of volume " + quote(v.name));
      if ((v.uid || v.gid) && ::chown(dir.c_str(), v.uid ? *v.uid : static_cast<uid_t>(-1), v.gid ? *v.gid : static_cast<gid_t>(-1)) < 0)
        throw_errno("setting the owner of volume " + quote(v.name));
    } else if (errno != EEXIST) {
      throw_errno("creating volume " + quote(v.name));
    }
    return dir;
  }
  fs::make_dirs(dir, 0755);
  std::string opts = "mode=" + (v.mode ? ([](uint32_t m) {
    char b[8];
    std::snprintf(b, sizeof b, "%04o", m);
    return std::string(b);
  })(*v.mode) : std::string("0755"));
  if (v.size) opts += ",size=" + std::to_string(*v.size);
  if (v.uid) opts += ",uid=" + std::to_string(*v.uid);
  if (v.gid) opts += ",gid=" + std::to_string(*v.gid);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) < 0)
    throw_errno("mounting tmpfs volume " + quote(v.name));
  return dir;
}

void copy_into_volume(int root_fd, const std::string& path, const stdfs::path& volume_dir) {
  UniqueFd src;
  try {
    src = fs::open_in_root(root_fd, path, O_RDONLY | O_DIRECTORY);
  } catch (const SystemError& e) {
    if (e.code() == ENOENT) return;  // the image has nothing there
    throw;
  }
  // Not the whole rootfs, which an image's /data -> / would give.
  if (std::string place = place_in_tree(root_fd, src.get()); place == "/")
    throw Error(quote(path) + " is the image's root directory (a symlink leads there): it cannot be a volume");
  struct stat st {};
  if (::fstat(src.get(), &st) < 0) throw_errno("inspecting " + quote(path));
  stdfs::path tmp = volume_dir.string() + ".copy";
  fs::remove_tree(tmp);
  store::copy_tree(fd_path(src.get()), tmp);
  if (::chmod(tmp.c_str(), st.st_mode & 07777) < 0 || ::chown(tmp.c_str(), st.st_uid, st.st_gid) < 0)
    throw_errno("copying the owner and mode of " + quote(path));
  if (::rmdir(volume_dir.c_str()) < 0 || ::rename(tmp.c_str(), volume_dir.c_str()) < 0)
    throw_errno("filling volume " + quote(volume_dir.string()));
}

void mount_volume(const stdfs::path& source, int root_fd, const std::string& target, bool read_only, bool recursive) {
  struct stat st {};
  if (::stat(source.c_str(), &st) < 0) throw_errno(quote(source.string()));
  UniqueFd where = S_ISDIR(st.st_mode) ? make_dir_in_root(root_fd, target) : make_file_in_root(root_fd, target);
  // Where the image's symlinks led (/data -> / or -> /etc): checked as the
  // target itself was, or the volume would become the app's root, or be
  // hidden, and the pod's mount points be made in the volume.
  if (std::string place = place_in_tree(root_fd, where.get()); place != target)
    if (std::string why = volume_target_problem(place); !why.empty())
      throw Error(quote(target) + " is " + quote(place) + " in the image (a symlink leads there): " + why);
  // Made read-only before it is attached: the path is not looked up again
  // through the new mount, where the image or the source could steer it.
  bind_onto(source, where.get(), {.recursive = recursive, .read_only = read_only, .isolated = true}, target);
}

}  // namespace crt::mount
