#include "apply_plan.hpp"

#include <fcntl.h>
#include <libmount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "mount/in_root.hpp"

namespace crt::prepare_app {

namespace {

struct ContextDeleter {
  void operator()(libmnt_context* c) const { mnt_free_context(c); }
};

void libmount_mount(const std::string& source, const std::string& target, const char* fstype,
                    const std::string& options, unsigned long flags, const std::string& shown) {
  std::unique_ptr<libmnt_context, ContextDeleter> cxt(mnt_new_context());
  if (!cxt) throw Error("allocating a libmount context");
  // Targets are /proc/self/fd/N of objects already resolved inside the app
  // rootfs: libmount must not canonicalize them (that would follow symlinks
  // in the host's view) nor keep any mount table.
  mnt_context_disable_canonicalize(cxt.get(), 1);
  mnt_context_disable_mtab(cxt.get(), 1);
  mnt_context_disable_helpers(cxt.get(), 1);
  mnt_context_set_source(cxt.get(), source.c_str());
  mnt_context_set_target(cxt.get(), target.c_str());
  if (fstype != nullptr) mnt_context_set_fstype(cxt.get(), fstype);
  if (!options.empty()) mnt_context_set_options(cxt.get(), options.c_str());
  if (flags != 0) mnt_context_set_mflags(cxt.get(), flags);
  int rc = mnt_context_mount(cxt.get());
  if (rc != 0) {
    char buf[BUFSIZ] = {};
    mnt_context_get_excode(cxt.get(), rc, buf, sizeof buf);
    throw Error("mounting " + quote(shown) + ": " + (buf[0] != '\0' ? buf : "failed"));
  }
}

bool exists_in_stage1(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void bind(int root_fd, const std::string& source, const std::string& target, bool recursive, bool read_only = false) {
  struct stat st {};
  if (::stat(source.c_str(), &st) < 0) throw_errno(quote(source));
  UniqueFd fd = S_ISDIR(st.st_mode) ? mount::make_dir_in_root(root_fd, target)
                                    : mount::make_file_in_root(root_fd, target);
  // A slave: stage1's mounts are shared, so a mount made later under the
  // copy (an image's /etc/hosts linking into /proc, say) would otherwise
  // land on stage1's own path and in every other app.
  mount::bind_onto(source, fd.get(), {.recursive = recursive, .read_only = read_only, .slave = true}, target);
}

/// The directory holding `path` inside the app rootfs (created if missing),
/// and the last component of `path`.
std::pair<UniqueFd, std::string> parent_in_root(int root_fd, const std::string& path) {
  size_t slash = path.rfind('/');
  std::string parent = path.substr(0, slash);
  return {mount::make_dir_in_root(root_fd, parent.empty() ? "/" : parent), path.substr(slash + 1)};
}

/// A node with the type, number, owner and mode of stage1's `op.source`.
/// Where the pod may not make device nodes (a devices cgroup, a user
/// namespace), stage1's is bound instead, as nspawn does for stage1's own.
void make_device(int root_fd, const mount::MountOp& op) {
  struct stat st {};
  if (::stat(op.source.c_str(), &st) < 0) throw_errno(quote(op.source));
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) throw Error(quote(op.source) + " is not a device node");
  auto [dir, name] = parent_in_root(root_fd, op.target);
  if (::mknodat(dir.get(), name.c_str(), st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0) {
    if (errno != EPERM && errno != EACCES) throw_errno("creating device node " + quote(op.target));
    bind(root_fd, op.source, op.target, false);
    return;
  }
  // mknod applies the umask, and makes the node ours.
  if (::fchownat(dir.get(), name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
      ::fchmodat(dir.get(), name.c_str(), st.st_mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno("setting the owner and mode of device node " + quote(op.target));
}

void apply_one(int root_fd, const mount::MountOp& op) {
  using K = mount::MountOp::Kind;
  bool from_stage1 = op.kind == K::kBind || op.kind == K::kRecursiveBind || op.kind == K::kDevice;
  if (from_stage1 && op.optional && !exists_in_stage1(op.source)) return;
  switch (op.kind) {
    case K::kTmpfs:
    case K::kSysfs: {
      const char* type = op.kind == K::kTmpfs ? "tmpfs" : "sysfs";
      UniqueFd dir = mount::make_dir_in_root(root_fd, op.target);
      libmount_mount(type, mount::fd_path(dir.get()), type, op.options, 0, op.target);
      break;
    }
    case K::kBind:
    case K::kRecursiveBind:
      bind(root_fd, op.source, op.target, op.kind == K::kRecursiveBind, op.read_only);
      break;
    case K::kDevice:
      make_device(root_fd, op);
      break;
    case K::kSymlink: {
      auto [dir, name] = parent_in_root(root_fd, op.target);
      if (::symlinkat(op.source.c_str(), dir.get(), name.c_str()) < 0 && errno != EEXIST)
        throw_errno("creating symlink " + quote(op.target));
      break;
    }
  }
}

}  // namespace

void apply_plan(int root_fd, const std::vector<mount::MountOp>& plan) {
  for (const auto& op : plan) apply_one(root_fd, op);
}

}  // namespace crt::prepare_app
