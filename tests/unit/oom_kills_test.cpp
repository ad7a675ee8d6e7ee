// The kernel log's OOM kill records, as /dev/kmsg gives them.

#include "runtime/oom_kills.hpp"

#include <gtest/gtest.h>

namespace crt::runtime {
namespace {

// As seen here: the kernel escapes the '\' of systemd's \x2d as \x5c.
const std::string kPod = "crt-04bcd3df-cd1b-4e2d-8b44-2ae64baeceb7";
const std::string kScope =
    R"(/machine.slice/machine-crt\x5cx2d04bcd3df\x5cx2dcd1b\x5cx2d4e2d\x5cx2d8b44\x5cx2d2ae64baeceb7.scope)";
std::string record(const std::string& memcg, const std::string& task = "sh") {
  return "6,49844,73561877791,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,mems_allowed=0,"
         "oom_memcg=" + memcg + ",task_memcg=" + memcg + ",task=" + task + ",pid=13054,uid=0\n";
}

TEST(OomKill, ParsesTheKernelsRecordAndUndoesItsEscapes) {
  auto k = parse_oom_kill(record(kScope + "/system.slice/busybox.service"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->task, "sh");
  EXPECT_EQ(k->task_memcg, R"(/machine.slice/machine-crt\x2d04bcd3df\x2dcd1b\x2d4e2d\x2d8b44\x2d2ae64baeceb7.scope)"
                           "/system.slice/busybox.service");
}

TEST(OomKill, OtherRecordsAreNone) {
  EXPECT_FALSE(parse_oom_kill("4,50417,74539566565,-;sh invoked oom-killer: gfp_mask=0x100cca, order=0\n"));
  EXPECT_FALSE(parse_oom_kill("6,1,2,-;Memory cgroup out of memory: Killed process 14328 (sh)\n"));
  EXPECT_FALSE(parse_oom_kill("no separator"));
  EXPECT_FALSE(parse_oom_kill("6,1,2,-;oom-kill:constraint=CONSTRAINT_NONE,task=sh\n"));
}

TEST(OomKill, OnlyThoseOfTheAppOfThePodAreItsOwn) {
  std::vector<OomKill> kills;
  for (const std::string& memcg : std::vector<std::string>{kScope + "/system.slice/busybox.service", kScope + "/system.slice/busybox.service",
                                  kScope + "/system.slice/busybox2.service", kScope + "/system.slice/other.service",
                                  std::string("/machine.slice/machine-crt\\x5cx2d99.scope/system.slice/busybox.service")})
    kills.push_back(*parse_oom_kill(record(memcg)));
  EXPECT_EQ(kills_of_app(kills, kPod, "busybox").size(), 2U);
  EXPECT_EQ(kills_of_app(kills, kPod, "other").size(), 1U);
  EXPECT_EQ(kills_of_app(kills, kPod, "busy").size(), 0U);
  EXPECT_EQ(kills_of_app(kills, "crt-0000", "busybox").size(), 0U);
}

TEST(OomKill, NoKernelLogIsNoKills) { EXPECT_TRUE(read_oom_kills("/nonexistent/kmsg").empty()); }

}  // namespace
}  // namespace crt::runtime
