#include "mount/app_plan.hpp"

#include <gtest/gtest.h>

#include <set>

namespace crt::mount {
namespace {

using Kind = MountOp::Kind;

const MountOp* find(const std::vector<MountOp>& plan, const std::string& target) {
  for (const auto& op : plan)
    if (op.target == target) return &op;
  return nullptr;
}

size_t index_of(const std::vector<MountOp>& plan, const std::string& target) {
  for (size_t i = 0; i < plan.size(); ++i)
    if (plan[i].target == target) return i;
  return plan.size();
}

TEST(AppMountPlan, StartsWithAFreshDev) {
  auto plan = app_mount_plan();
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan[0].kind, Kind::kTmpfs);
  EXPECT_EQ(plan[0].target, "/dev");
  EXPECT_EQ(plan[0].options, "mode=755,size=65536k,nosuid,noexec");
}

TEST(AppMountPlan, DeviceNodesAreMadeLikeStage1s) {
  auto plan = app_mount_plan();
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}) {
    const MountOp* op = find(plan, dev);
    ASSERT_NE(op, nullptr) << dev;
    EXPECT_EQ(op->kind, Kind::kDevice) << dev;
    EXPECT_EQ(op->source, dev);
    EXPECT_FALSE(op->optional) << dev;
  }
  EXPECT_EQ(find(plan, "/dev/net/tun")->kind, Kind::kDevice);
  EXPECT_TRUE(find(plan, "/dev/net/tun")->optional);
  // The console is nspawn's pseudo-terminal: only a bind reaches it.
  EXPECT_EQ(find(plan, "/dev/console")->kind, Kind::kBind);
  EXPECT_TRUE(find(plan, "/dev/console")->optional);
}

TEST(AppMountPlan, ApiFileSystemsAreRecursive) {
  auto plan = app_mount_plan();
  for (const char* p : {"/proc", "/dev/pts"}) EXPECT_EQ(find(plan, p)->kind, Kind::kRecursiveBind) << p;
  EXPECT_EQ(find(plan, "/dev/shm")->kind, Kind::kBind);
}

TEST(AppMountPlan, SysfsOfThePodsOwnNetworkReadOnly) {
  auto plan = app_mount_plan();
  EXPECT_EQ(find(plan, "/sys")->kind, Kind::kSysfs);
  EXPECT_EQ(find(plan, "/sys")->options, "ro,nosuid,nodev,noexec");
}

TEST(AppMountPlan, Symlinks) {
  auto plan = app_mount_plan();
  const std::pair<const char*, const char*> links[] = {
      {"/dev/ptmx", "pts/ptmx"},         {"/dev/fd", "/proc/self/fd"},
      {"/dev/stdin", "/proc/self/fd/0"}, {"/dev/stdout", "/proc/self/fd/1"},
      {"/dev/stderr", "/proc/self/fd/2"}, {"/dev/log", "/run/systemd/journal/dev-log"},
      {"/etc/mtab", "../proc/self/mounts"}};
  for (const auto& [target, source] : links) {
    const MountOp* op = find(plan, target);
    ASSERT_NE(op, nullptr) << target;
    EXPECT_EQ(op->kind, Kind::kSymlink) << target;
    EXPECT_EQ(op->source, source) << target;
  }
}

TEST(AppMountPlan, JournalNotifyAndNetworkFiles) {
  auto plan = app_mount_plan();
  EXPECT_EQ(find(plan, "/run/systemd/journal")->source, "/run/systemd/journal");
  EXPECT_TRUE(find(plan, "/run/systemd/notify")->optional);
  EXPECT_TRUE(find(plan, "/etc/resolv.conf")->optional);
  EXPECT_EQ(find(plan, "/etc/resolv.conf")->source, "/crt/etc/resolv.conf");
  EXPECT_EQ(find(plan, "/etc/hosts")->source, "/crt/etc/hosts");
  EXPECT_EQ(find(plan, "/etc/hostname")->source, "/crt/etc/hostname");
  EXPECT_FALSE(find(plan, "/etc/hosts")->optional);
}

TEST(AppMountPlan, EveryTargetIsAbsoluteUniqueAndBelowItsParentMount) {
  auto plan = app_mount_plan();
  std::set<std::string> seen;
  for (const auto& op : plan) {
    EXPECT_EQ(op.target.front(), '/') << op.target;
    EXPECT_TRUE(seen.insert(op.target).second) << op.target << " appears twice";
    if (op.target.rfind("/dev/", 0) == 0) {
      EXPECT_GT(index_of(plan, op.target), index_of(plan, "/dev")) << op.target;
    }
  }
  EXPECT_GT(index_of(plan, "/dev/ptmx"), index_of(plan, "/dev/pts"));
  EXPECT_GT(index_of(plan, "/etc/mtab"), index_of(plan, "/proc"));
}

}  // namespace
}  // namespace crt::mount
