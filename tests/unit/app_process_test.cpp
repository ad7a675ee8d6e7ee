#include "runtime/app_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "test_support.hpp"

namespace crt::runtime {
namespace {

TEST(StatusMask, ReadsHexFieldsAndFallsBackWhereThereIsNone) {
  std::map<std::string, std::string> st = {{"CapBnd", "00000000a80425fb"}, {"SigBlk", "fffffffe7ffbfeff"},
                                           {"Name", "zz"}, {"Empty", ""}, {"Tail", "12zz"}};
  EXPECT_EQ(status_mask(st, "CapBnd"), 0xa80425fbULL);
  EXPECT_EQ(status_mask(st, "SigBlk"), 0xfffffffe7ffbfeffULL);
  EXPECT_EQ(status_mask(st, "CapAmb"), 0U);
  EXPECT_EQ(status_mask(st, "CapAmb", ~0ULL), ~0ULL);
  EXPECT_EQ(status_mask(st, "Name", 7), 7U);
  EXPECT_EQ(status_mask(st, "Empty", 7), 7U);
  EXPECT_EQ(status_mask(st, "Tail", 7), 7U);
}

TEST(StatusMask, SeesThisThreadsBlockedSignal) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
  // /proc/PID/status is the main thread's: the test runs on it.
  uint64_t blocked = status_mask(proc_status(::getpid()), "SigBlk");
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_NE(blocked & (1ULL << (SIGUSR2 - 1)), 0U);
  EXPECT_TRUE(proc_status(-1).empty());
}

// The app's cgroup goes while it is looked for (it ended, or restarts):
// the app is not running, which is no error (crt inspect shows the others).
TEST(AppMainPid, AnAppWhoseCgroupWentIsNotRunning) {
  test::Scratch s;
  std::filesystem::create_directories(s / "pod" / "system.slice" / "web.service");  // no cgroup.procs: gone
  cgroup::Layout layout{{cgroup::Hierarchy{s.path(), {}, true}}};
  EXPECT_EQ(app_main_pid(cgroup::PodCgroup(layout, "pod"), "web"), std::nullopt);
}

}  // namespace
}  // namespace crt::runtime
