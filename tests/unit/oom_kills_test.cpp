// The kernel log's OOM kill records, as /dev/kmsg gives them.

#include "runtime/oom_kills.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "cgroup/cgroup.hpp"
#include "test_support.hpp"

namespace crt::runtime {
namespace {

// As seen here: the kernel escapes the '\' of systemd's \x2d as \x5c.
const std::string kScope =
    R"(/machine.slice/machine-crt\x5cx2d04bcd3df\x5cx2dcd1b\x5cx2d4e2d\x5cx2d8b44\x5cx2d2ae64baeceb7.scope)";
// The same scope as crt names it (cgroup::PodCgroup::relative()).
const std::string kPod = "machine.slice/machine-crt\\x2d04bcd3df\\x2dcd1b\\x2d4e2d\\x2d8b44\\x2d2ae64baeceb7.scope";
std::string record(const std::string& memcg, const std::string& task = "sh",
                   const std::string& constraint = "CONSTRAINT_MEMCG") {
  return "6,49844,73561877791,-;oom-kill:constraint=" + constraint + ",nodemask=(null),cpuset=x,mems_allowed=0,"
         "oom_memcg=" + memcg + ",task_memcg=" + memcg + ",task=" + task + ",pid=13054,uid=0\n";
}

TEST(OomKill, ParsesTheKernelsRecordAndUndoesItsEscapes) {
  auto k = parse_oom_kill(record(kScope + "/system.slice/busybox.service"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->constraint, "CONSTRAINT_MEMCG");
  EXPECT_EQ(k->task, "sh");
  std::string memcg = R"(/machine.slice/machine-crt\x2d04bcd3df\x2dcd1b\x2d4e2d\x2d8b44\x2d2ae64baeceb7.scope)"
                      "/system.slice/busybox.service";
  EXPECT_EQ(k->task_memcg, memcg);
  EXPECT_EQ(k->oom_memcg, memcg);
  // Where crt makes the pod's cgroup itself, the app's is named alike.
  EXPECT_EQ(app_memcg(cgroup::PodCgroup::relative_path("crt-04bcd3df-cd1b-4e2d-8b44-2ae64baeceb7"), "busybox"), memcg);
}

TEST(OomKill, NamesWithCommasAreTakenWhole) {
  auto k = parse_oom_kill(record("/a,nodemask=b,c/system.slice/x.service", "my,task"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->task, "my,task");
  EXPECT_EQ(k->task_memcg, "/a,nodemask=b,c/system.slice/x.service");
  EXPECT_EQ(k->oom_memcg, "/a,nodemask=b,c/system.slice/x.service");
}

TEST(OomKill, AHostWideOomHasNoCgroupOfItsOwn) {
  std::string r = "6,1,2,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
                  "task_memcg=/p/system.slice/web.service,task=nginx,pid=7,uid=33\n";
  auto k = parse_oom_kill(r);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->constraint, "CONSTRAINT_NONE");
  EXPECT_EQ(k->oom_memcg, "");
  EXPECT_EQ(k->task_memcg, "/p/system.slice/web.service");
  EXPECT_EQ(k->task, "nginx");
}

TEST(OomKill, OtherRecordsAreNone) {
  EXPECT_FALSE(parse_oom_kill("4,50417,74539566565,-;sh invoked oom-killer: gfp_mask=0x100cca, order=0\n"));
  EXPECT_FALSE(parse_oom_kill("6,1,2,-;Memory cgroup out of memory: Killed process 14328 (sh)\n"));
  EXPECT_FALSE(parse_oom_kill("no separator"));
  EXPECT_FALSE(parse_oom_kill("6,1,2,-;oom-kill:constraint=CONSTRAINT_NONE,task=sh\n"));
}

TEST(OomKill, NoKernelLogIsNoKillsAndWhatWasThereBeforeIsNotSince) {
  EXPECT_TRUE(KernelLog::from_now("/nonexistent/kmsg").oom_kills().empty());
  // A file stands in for /dev/kmsg: a read gives the first record of what
  // it has not read yet.
  test::Scratch s;
  std::string path = (s / "kmsg").string();
  test::write_text(path, record(kScope + "/system.slice/busybox.service"));
  KernelLog log = KernelLog::from_now(path.c_str());
  EXPECT_TRUE(log.oom_kills().empty());
  std::ofstream(path, std::ios::app) << record(kScope + "/system.slice/web.service", "nginx");
  std::vector<OomKill> kills = log.oom_kills();
  ASSERT_EQ(kills.size(), 1U);
  EXPECT_EQ(kills[0].task, "nginx");
}

TEST(OomKill, TheExplanationSaysWhoseLimitItWas) {
  std::vector<OomKill> kills = {*parse_oom_kill(record(kScope + "/system.slice/busybox.service"))};
  EXPECT_EQ(explain_oom_kills(kills, kPod, "busybox", 20000000),
            "app 'busybox' ran out of memory (its limit is 20000000 bytes, --memory): "
            "the kernel's OOM killer killed its process 'sh'");
  EXPECT_EQ(explain_oom_kills(kills, kPod, "web", 20000000), std::nullopt);
  kills.push_back(*parse_oom_kill(record(kScope + "/system.slice/busybox.service", "sh", "CONSTRAINT_NONE")));
  EXPECT_EQ(explain_oom_kills(kills, kPod, "busybox", std::nullopt),
            "app 'busybox' was running when the host ran out of memory: the kernel's OOM killer killed 2 of its "
            "processes");
}

// nspawn puts the pod's init below payload/ on a unified hierarchy.
TEST(OomKill, AnAppsCgroupMayBeBelowPayload) {
  std::vector<OomKill> kills = {*parse_oom_kill(record(kScope + "/payload/system.slice/busybox.service"))};
  EXPECT_EQ(count_oom_kills(kills, kPod, "busybox"), 1U);
  EXPECT_EQ(explain_oom_kills(kills, kPod, "busybox", 20000000),
            "app 'busybox' ran out of memory (its limit is 20000000 bytes, --memory): "
            "the kernel's OOM killer killed its process 'sh'");
  kills = {*parse_oom_kill(record(kScope + "/payload/other/system.slice/busybox.service"))};
  EXPECT_EQ(count_oom_kills(kills, kPod, "busybox"), 0U);
}

TEST(OomKill, KillsAreCountedPerApp) {
  std::vector<OomKill> kills = {*parse_oom_kill(record(kScope + "/system.slice/busybox.service")),
                                *parse_oom_kill(record(kScope + "/system.slice/web.service", "nginx")),
                                *parse_oom_kill(record(kScope + "/system.slice/busybox.service", "sleep")),
                                *parse_oom_kill(record("/machine.slice/other.scope/system.slice/busybox.service"))};
  EXPECT_EQ(count_oom_kills(kills, kPod, "busybox"), 2U);
  EXPECT_EQ(count_oom_kills(kills, kPod, "web"), 1U);
  EXPECT_EQ(count_oom_kills(kills, kPod, "db"), 0U);
}

}  // namespace
}  // namespace crt::runtime
