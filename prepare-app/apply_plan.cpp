#include "apply_plan.hpp"

#include <fcntl.h>
#include <libmount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

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

void apply_one(int root_fd, const mount::MountOp& op) {
  using K = mount::MountOp::Kind;
  bool from_stage1 = op.kind == K::kBind || op.kind == K::kRecursiveBind;
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
    case K::kRecursiveBind: {
      struct stat st {};
      if (::stat(op.source.c_str(), &st) < 0) throw_errno(quote(op.source));
      UniqueFd target = S_ISDIR(st.st_mode) ? mount::make_dir_in_root(root_fd, op.target)
                                            : mount::make_file_in_root(root_fd, op.target);
      unsigned long flags = MS_BIND | (op.kind == K::kRecursiveBind ? MS_REC : 0);
      libmount_mount(op.source, mount::fd_path(target.get()), nullptr, "", flags, op.target);
      break;
    }
    case K::kSymlink: {
      std::string t = op.target;
      size_t slash = t.rfind('/');
      std::string parent = t.substr(0, slash);
      std::string name = t.substr(slash + 1);
      UniqueFd dir = mount::make_dir_in_root(root_fd, parent.empty() ? "/" : parent);
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
