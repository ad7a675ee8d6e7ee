// prepare-app's device nodes: made with mknod where the pod may, bound from
// stage1 where it may not.
#include "apply_plan.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "mount/app_plan.hpp"
#include "test_support.hpp"

namespace crt::prepare_app {
namespace {

using Kind = mount::MountOp::Kind;
using test::Scratch;

/// True if `path` is the mount point of one of this process's mounts.
bool is_mount_point(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::string fields[5];
    size_t pos = 0;
    for (auto& f : fields) {
      size_t sp = line.find(' ', pos);
      f = line.substr(pos, sp - pos);
      pos = sp + 1;
    }
    if (fields[4] == path) return true;
  }
  return false;
}

/// Applies a plan making /dev/null in a fresh root and says, in the exit
/// status, what came of it: 0 a node of its own, 1 stage1's bound, 2 neither.
int make_null_in(const std::string& root) {
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  apply_plan(root_fd.get(), {{Kind::kDevice, "/dev/null", "/dev/null", "", false}});
  std::string node = root + "/dev/null";
  struct stat st {};
  if (::stat(node.c_str(), &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
    return 2;
  if (is_mount_point(node)) return 1;
  return (st.st_mode & 07777) == 0666 ? 0 : 2;
}

int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

/// A mount namespace of its own for the child, so that a bind (the
/// fallback) stays out of the test's.
bool private_mounts() {
  return ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

TEST(ApplyPlan, DeviceNodesAreMadeWithTheSourcesNumberAndMode) {
  if (::geteuid() != 0) GTEST_SKIP() << "making device nodes needs root";
  Scratch s;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (!private_mounts()) ::_exit(12);
    ::umask(022);  // mknod's mode is cut by the umask; the node's must not be
    try {
      ::_exit(make_null_in(s.path()));
    } catch (...) {
      ::_exit(3);
    }
  }
  int rc = wait_child(pid);
  if (rc == 1) GTEST_SKIP() << "this root may not make device nodes (it got stage1's bound, as a pod would)";
  EXPECT_EQ(rc, 0);
}

TEST(ApplyPlan, DeviceNodesAreBoundWhereThePodMayNotMakeThem) {
  Scratch s;
  pid_t pid = ::fork();
  if (pid == 0) {
    // A user namespace of our own, as a pod in one would have: mknod is
    // refused there, a bind mount in its own mount namespace is not.
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER) < 0) ::_exit(10);
    auto write = [](const char* file, const std::string& text) {
      std::ofstream out(file);
      out << text;
      return static_cast<bool>(out.flush());
    };
    if (!write("/proc/self/setgroups", "deny") || !write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n") ||
        !write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n"))
      ::_exit(11);
    if (!private_mounts()) ::_exit(12);
    try {
      ::_exit(make_null_in(s.path()));
    } catch (...) {
      ::_exit(3);
    }
  }
  int rc = wait_child(pid);
  if (rc >= 10) GTEST_SKIP() << "no user namespace with mounts of its own here (" << rc << ")";
  EXPECT_EQ(rc, 1);
}

}  // namespace
}  // namespace crt::prepare_app
