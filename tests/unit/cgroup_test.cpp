#include "cgroup/cgroup.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "test_support.hpp"

namespace crt::cgroup {
namespace {

using Strings = std::vector<std::string>;

const char* const kUnified =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// As on these test machines: one v1 hierarchy per controller, cgroup2 beside them.
const char* const kHybrid =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A systemd legacy layout: co-mounted controllers, no cgroup2, options systemd sets.
const char* const kLegacy =
    "25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct\n"
    "31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
    "rw,net_cls,net_prio\n"
    "32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory\n"
    "33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup "
    "rw,cpuset,clone_children\n"
    "34 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids\n"
    "35 25 0:32 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,perf_event\n"
    "36 25 0:32 / /mnt/perf\\040again rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,perf_event\n";

TEST(ParseLayout, Unified) {
  Layout l = parse_layout(kUnified);
  ASSERT_EQ(l.hierarchies.size(), 1u);
  EXPECT_TRUE(l.hierarchies[0].v2);
  EXPECT_EQ(l.hierarchies[0].mount_point, "/sys/fs/cgroup");
  EXPECT_TRUE(l.hierarchies[0].controllers.empty());
  EXPECT_TRUE(l.unified());
}

// A tool (a VPN's split tunnel, say) that mounts a v1 hierarchy on a
// unified host leaves it unified, as systemd and nspawn judge it.
TEST(ParseLayout, AStrayV1MountLeavesAUnifiedHostUnified) {
  Layout l = parse_layout(std::string(kUnified) +
                          "45 30 0:40 / /sys/fs/cgroup/net_cls rw,relatime shared:30 - cgroup net_cls rw,net_cls\n");
  ASSERT_EQ(l.hierarchies.size(), 1u);
  EXPECT_EQ(l.hierarchies[0].mount_point, "/sys/fs/cgroup");
  EXPECT_TRUE(l.unified());
}

TEST(ParseLayout, HybridPutsCgroup2Last) {
  Layout l = parse_layout(kHybrid);
  ASSERT_EQ(l.hierarchies.size(), 10u);
  EXPECT_FALSE(l.unified());
  EXPECT_EQ(l.hierarchies[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(l.hierarchies[0].controllers, Strings{"cpu"});
  EXPECT_EQ(l.hierarchies[8].controllers, Strings{"name=systemd"});
  EXPECT_TRUE(l.hierarchies[9].v2);
  EXPECT_EQ(l.hierarchies[9].mount_point, "/sys/fs/cgroup/unified");
}

TEST(ParseLayout, LegacyControllersWithoutMountFlags) {
  Layout l = parse_layout(kLegacy);
  EXPECT_FALSE(l.unified());
  ASSERT_EQ(l.hierarchies.size(), 7u) << "a hierarchy mounted twice counts once";
  EXPECT_EQ(l.hierarchies[0].controllers, Strings{"name=systemd"});
  EXPECT_EQ(l.hierarchies[1].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(l.hierarchies[1].controllers, (Strings{"cpu", "cpuacct"}));
  EXPECT_EQ(l.hierarchies[4].controllers, Strings{"cpuset"});
  for (const auto& h : l.hierarchies) EXPECT_FALSE(h.v2);
}

TEST(ParseLayout, EscapedMountPoint) {
  Layout l = parse_layout("36 25 0:32 / /mnt/my\\040cgroup rw - cgroup cgroup rw,memory\n");
  ASSERT_EQ(l.hierarchies.size(), 1u);
  EXPECT_EQ(l.hierarchies[0].mount_point, "/mnt/my cgroup");
}

TEST(ParseLayout, NoCgroups) {
  Layout l = parse_layout("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
  EXPECT_TRUE(l.hierarchies.empty());
  EXPECT_FALSE(l.unified());
  EXPECT_TRUE(parse_layout("").hierarchies.empty());
}

TEST(PodCgroup, RelativePathLikeMachined) {
  EXPECT_EQ(PodCgroup::relative_path("crt-1a"), "machine.slice/machine-crt\\x2d1a.scope");
  EXPECT_EQ(PodCgroup::relative_path("crt-0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f"),
            "machine.slice/machine-crt\\x2d0b6e0c3c\\x2d7d41\\x2d4b1a\\x2d9f55\\x2d2f4a4c1d2e3f.scope");
  EXPECT_EQ(PodCgroup::relative_path("my.pod"), "machine.slice/machine-my.pod.scope");
}

TEST(PodCgroup, PathsInEveryHierarchy) {
  PodCgroup cg(parse_layout(kHybrid), PodCgroup::relative_path("crt-1a"));
  auto paths = cg.paths();
  ASSERT_EQ(paths.size(), 10u);
  EXPECT_EQ(paths[0], "/sys/fs/cgroup/cpu/machine.slice/machine-crt\\x2d1a.scope");
  EXPECT_EQ(paths[9], "/sys/fs/cgroup/unified/machine.slice/machine-crt\\x2d1a.scope");
  EXPECT_EQ(cg.relative(), "machine.slice/machine-crt\\x2d1a.scope");
}

TEST(PodCgroup, NoNspawnArgumentsOnUnified) {
  EXPECT_TRUE(PodCgroup(parse_layout(kUnified), PodCgroup::relative_path("crt-1a")).nspawn_args().empty());
}

TEST(PodCgroup, HybridBindsOnlyControllersThePodsSystemdManages) {
  PodCgroup cg(parse_layout(kHybrid), PodCgroup::relative_path("crt-1a"));
  const std::string scope = "machine.slice/machine-crt\\\\x2d1a.scope";
  EXPECT_EQ(cg.nspawn_args(), (Strings{
                                  "--tmpfs=/sys/fs/cgroup",
                                  "--bind=/sys/fs/cgroup/cpu/" + scope + ":/sys/fs/cgroup/cpu",
                                  "--bind=/sys/fs/cgroup/cpuacct/" + scope + ":/sys/fs/cgroup/cpuacct",
                                  "--bind=/sys/fs/cgroup/memory/" + scope + ":/sys/fs/cgroup/memory",
                                  "--bind=/sys/fs/cgroup/devices/" + scope + ":/sys/fs/cgroup/devices",
                                  "--bind=/sys/fs/cgroup/blkio/" + scope + ":/sys/fs/cgroup/blkio",
                                  "--bind=/sys/fs/cgroup/pids/" + scope + ":/sys/fs/cgroup/pids",
                              }));
}

TEST(PodCgroup, LegacyBindsCoMountedControllersUnderTheirOwnName) {
  PodCgroup cg(parse_layout(kLegacy), "machine.slice/x.scope");
  EXPECT_EQ(cg.nspawn_args(), (Strings{
                                  "--tmpfs=/sys/fs/cgroup",
                                  "--bind=/sys/fs/cgroup/cpu,cpuacct/machine.slice/x.scope:/sys/fs/cgroup/cpu,cpuacct",
                                  "--bind=/sys/fs/cgroup/memory/machine.slice/x.scope:/sys/fs/cgroup/memory",
                                  "--bind=/sys/fs/cgroup/pids/machine.slice/x.scope:/sys/fs/cgroup/pids",
                              }));
}

TEST(PodCgroup, NothingToBindMeansNoTmpfsEither) {
  Layout l = parse_layout("37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n");
  EXPECT_TRUE(PodCgroup(l, "machine.slice/x.scope").nspawn_args().empty());
}

// create() and remove() on plain directories standing in for cgroupfs.
namespace stdfs = std::filesystem;
using test::read_text;
using test::write_text;

Hierarchy v1(const stdfs::path& p, std::string controller) { return {p, {std::move(controller)}, false}; }

TEST(PodCgroupFake, CreateMakesTheCgroupInEveryHierarchy) {
  test::Scratch s;
  Layout l{{v1(s / "memory", "memory"), v1(s / "pids", "pids")}};
  PodCgroup cg = PodCgroup::create(l, "crt-1a");
  EXPECT_EQ(cg.relative(), "machine.slice/machine-crt\\x2d1a.scope");
  EXPECT_TRUE(stdfs::is_directory(s / "memory" / "machine.slice" / "machine-crt\\x2d1a.scope"));
  EXPECT_TRUE(stdfs::is_directory(s / "pids" / "machine.slice" / "machine-crt\\x2d1a.scope"));
  EXPECT_TRUE(cg.remove());
  EXPECT_FALSE(stdfs::exists(s / "memory" / "machine.slice" / "machine-crt\\x2d1a.scope"));
  EXPECT_TRUE(stdfs::is_directory(s / "memory" / "machine.slice")) << "the slice stays";
}

TEST(PodCgroupFake, CpusetIsFilledFromItsParent) {
  test::Scratch s;
  stdfs::path scope = s / "cpuset" / "machine.slice" / "machine-p.scope";
  write_text(s / "cpuset" / "cpuset.cpus", "0-3\n");
  write_text(s / "cpuset" / "cpuset.mems", "0\n");
  write_text(scope.parent_path() / "cpuset.cpus", "");
  write_text(scope.parent_path() / "cpuset.mems", "");
  // (The scope's own files are the kernel's, made with it: not here.)
  PodCgroup::create(Layout{{v1(s / "cpuset", "cpuset")}}, "p");
  EXPECT_EQ(read_text(scope.parent_path() / "cpuset.cpus"), "0-3");
  EXPECT_EQ(read_text(scope.parent_path() / "cpuset.mems"), "0");
}

/// The inode of a directory, as an identity line names it.
ino_t inode(const stdfs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

TEST(PodCgroupFake, AnEmptyCgroupLeftByAPodOfTheNameIsMadeAnew) {
  test::Scratch s;
  stdfs::path scope = s / "memory" / "machine.slice" / "machine-p.scope";
  stdfs::create_directories(scope / "payload");
  UniqueFd old(::open(scope.c_str(), O_PATH | O_CLOEXEC));  // its inode stays taken
  ino_t before = inode(scope);
  PodCgroup::create(Layout{{v1(s / "memory", "memory")}}, "p");
  EXPECT_NE(inode(scope), before);
  EXPECT_FALSE(stdfs::exists(scope / "payload"));
}

TEST(PodCgroupFake, RemovingByIdentityLeavesALaterPodsCgroupAlone) {
  test::Scratch s;
  Layout l{{v1(s / "memory", "memory"), v1(s / "pids", "pids")}};
  PodCgroup first = PodCgroup::create(l, "p");
  std::string identity = first.identity();
  stdfs::path memory = s / "memory" / "machine.slice" / "machine-p.scope";
  stdfs::path pids = s / "pids" / "machine.slice" / "machine-p.scope";
  EXPECT_EQ(identity, std::to_string(inode(memory)) + " " + memory.string() + "\n" + std::to_string(inode(pids)) + " " +
                          pids.string() + "\n");
  EXPECT_EQ(first.dirs_of(identity), (std::vector<stdfs::path>{memory, pids}));
  // The first pod's memory cgroup went; a pod of the same name made its own.
  UniqueFd old(::open(memory.c_str(), O_PATH | O_CLOEXEC));
  ASSERT_EQ(::rmdir(memory.c_str()), 0);
  stdfs::create_directories(memory / "payload");
  EXPECT_EQ(first.dirs_of(identity), std::vector<stdfs::path>{pids});
  EXPECT_TRUE(first.remove_same(identity));
  EXPECT_FALSE(stdfs::exists(pids));
  EXPECT_TRUE(stdfs::exists(memory / "payload")) << "the later pod's cgroup was touched";
  // A record naming paths that are not the pod's own is not followed.
  stdfs::path other = s / "memory" / "other";
  stdfs::create_directories(other);
  EXPECT_TRUE(first.remove_same(std::to_string(inode(other)) + " " + other.string() + "\n"));
  EXPECT_TRUE(stdfs::exists(other));
}

TEST(PodCgroupFake, UnifiedEnablesControllersDownToTheSlice) {
  test::Scratch s;
  write_text(s / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  write_text(s / "cgroup.subtree_control", "");
  write_text(s / "machine.slice" / "cgroup.subtree_control", "");
  PodCgroup::create(Layout{{{s.path(), {}, true}}}, "p");
  EXPECT_EQ(read_text(s / "cgroup.subtree_control"), "+cpu +io +memory +pids");
  EXPECT_EQ(read_text(s / "machine.slice" / "cgroup.subtree_control"), "+cpu +io +memory +pids");
  EXPECT_FALSE(stdfs::exists(s / "machine.slice" / "machine-p.scope" / "cgroup.subtree_control"))
      << "nspawn enables what the pod's own subtree needs";
}

TEST(PodCgroupFake, RemoveKillsWhatIsLeftDeepestFirst) {
  test::Scratch s;
  PodCgroup cg = PodCgroup::create(Layout{{v1(s / "memory", "memory")}}, "p");
  stdfs::path scope = s / "memory" / "machine.slice" / "machine-p.scope";
  stdfs::create_directories(scope / "payload" / "system.slice");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  write_text(scope / "payload" / "cgroup.procs", std::to_string(child) + "\n");
  EXPECT_FALSE(cg.remove()) << "a directory it cannot remove (here: a plain file in it) is reported";
  int st = 0;
  pid_t done = 0;
  for (int i = 0; i < 500 && done == 0; ++i) {
    done = ::waitpid(child, &st, WNOHANG);
    if (done == 0) ::usleep(10000);
  }
  if (done == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &st, 0);
    FAIL() << "the leftover process was not killed";
  }
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "the leftover process was killed";
  EXPECT_FALSE(stdfs::exists(scope / "payload" / "system.slice"));
}

// What is left of a pod's scope once the host's systemd removed it: the v1
// directories of a controller systemd does not manage. The unified one is
// systemd's alone.
TEST(PodCgroupFake, RemoveEmptyV1LeavesTheUnifiedHierarchyAlone) {
  test::Scratch s;
  stdfs::path scope = "machine.slice/machine-p.scope";
  Layout layout{{{s / "unified", {}, true}, v1(s / "cpuacct", "cpuacct"), v1(s / "memory", "memory")}};
  for (const char* h : {"unified", "cpuacct"}) stdfs::create_directories(s / h / scope / "payload" / "system.slice");
  PodCgroup cg(layout, scope.string());
  EXPECT_TRUE(cg.remove_empty_v1()) << "memory: already gone";
  EXPECT_FALSE(stdfs::exists(s / "cpuacct" / scope));
  EXPECT_TRUE(stdfs::exists(s / "unified" / scope / "payload" / "system.slice"));
  // One that is not empty (here: a file in it) stays, and is said to.
  stdfs::create_directories(s / "memory" / scope / "payload");
  write_text(s / "memory" / scope / "payload" / "cgroup.procs", "1\n");
  EXPECT_FALSE(cg.remove_empty_v1());
  EXPECT_TRUE(stdfs::exists(s / "memory" / scope / "payload" / "cgroup.procs"));
}

TEST(PodCgroupFake, RemoveOfAMissingCgroupIsFine) {
  test::Scratch s;
  EXPECT_TRUE(PodCgroup(Layout{{v1(s / "memory", "memory")}}, "machine.slice/none.scope").remove());
}

/// The exit status of `child`, which exits 0 when it got into its cgroups.
int child_moved_status(const Forked& f) {
  if (f.pid == 0) _exit(f.moved ? 0 : 1);
  int status = 0;
  EXPECT_EQ(::waitpid(f.pid, &status, 0), f.pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ForkInto, WithoutACgroupItIsAPlainFork) {
  Forked f = fork_into(CgroupEntry{});
  ASSERT_GE(f.pid, 0);
  EXPECT_EQ(child_moved_status(f), 0);
}

TEST(ForkInto, AChildThatCannotMoveSaysSo) {
  test::Scratch s;
  test::write_text(s / "tasks", "");
  CgroupEntry e;
  e.v1_tasks.push_back(fs::open_fd(s / "tasks", O_RDONLY));  // a write fails
  Forked f = fork_into(e);
  ASSERT_GE(f.pid, 0);
  EXPECT_EQ(child_moved_status(f), 1);
}

TEST(ForkInto, ADirectoryThatIsNoCgroupRefusesTheChild) {
  test::Scratch s;
  CgroupEntry e;
  e.v2_dir = fs::open_fd(s.path(), O_PATH | O_DIRECTORY);
  Forked f = fork_into(e);
  if (f.pid >= 0) {
    child_moved_status(f);
    GTEST_SKIP() << "this kernel has no clone3 CLONE_INTO_CGROUP: a plain fork";
  }
  EXPECT_EQ(errno, EBADF);
}

TEST(EscapeNspawnPath, ColonAndBackslash) {
  EXPECT_EQ(escape_nspawn_path("/a:b\\c d,e"), "/a\\:b\\\\c d,e");
  EXPECT_EQ(escape_nspawn_path(""), "");
}

}  // namespace
}  // namespace crt::cgroup
