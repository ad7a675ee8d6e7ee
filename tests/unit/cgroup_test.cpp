#include "cgroup/cgroup.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

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

TEST(EscapeNspawnPath, ColonAndBackslash) {
  EXPECT_EQ(escape_nspawn_path("/a:b\\c d,e"), "/a\\:b\\\\c d,e");
  EXPECT_EQ(escape_nspawn_path(""), "");
}

}  // namespace
}  // namespace crt::cgroup
