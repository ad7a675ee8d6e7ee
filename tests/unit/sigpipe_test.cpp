#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "common/lock.hpp"
#include "common/subprocess.hpp"
#include "test_support.hpp"

namespace crt {
namespace {

/// SIGPIPE's disposition now.
void (*sigpipe_handler())(int) {
  struct sigaction now {};
  ::sigaction(SIGPIPE, nullptr, &now);
  return now.sa_handler;
}

// Two threads ignoring SIGPIPE, ending in the other order than they began:
// it stays ignored until the last ends, then is as before.
TEST(SigpipeIgnored, StaysIgnoredUntilTheLastHolderEnds) {
  struct sigaction dfl {
  }, was{};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, &was);
  auto first = std::make_unique<SigpipeIgnored>();
  auto second = std::make_unique<SigpipeIgnored>();
  first.reset();
  EXPECT_EQ(sigpipe_handler(), SIG_IGN);
  second.reset();
  EXPECT_EQ(sigpipe_handler(), SIG_DFL);
  ::sigaction(SIGPIPE, &was, nullptr);
}

// A program crt runs (a CNI plugin, iptables-restore) is in a process group
// of its own: a ^C at the terminal, sent to crt's group, does not kill it
// half-way through its work.
TEST(RunProgram, RunsInAProcessGroupOfItsOwn) {
  ProgramResult r = run_program({"/bin/sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"}, {});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string pid = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(r.out, pid + "\n" + pid + "\n") << "its own group, which it leads";
  EXPECT_NE(pid, std::to_string(::getpgrp()));
}

// ... yet one that hangs does not keep crt, told to stop, for ever.
TEST(RunProgram, OneThatOutlastsAStopByAGracePeriodIsTerminated) {
  sigset_t block, was;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &block, &was);
  ::raise(SIGINT);  // pending, as for crt after a ^C
  auto start = std::chrono::steady_clock::now();
  ProgramResult r = run_program({"/bin/sh", "-c", "sleep 30"}, {});
  auto took = std::chrono::steady_clock::now() - start;
  siginfo_t info;
  timespec none{};
  ::sigtimedwait(&block, &info, &none);
  ::pthread_sigmask(SIG_SETMASK, &was, nullptr);
  EXPECT_EQ(r.status, 128 + SIGTERM);
  EXPECT_GE(took, std::chrono::seconds(3));
  EXPECT_LT(took, std::chrono::seconds(10));
  // With no stop pending, a program takes its time.
  EXPECT_EQ(run_program({"/bin/sh", "-c", "sleep 3.5"}, {}).status, 0);
}

// A program given a time limit (a CNI plugin in the teardown after crt's
// death) is stopped once it has run out of it, its whole group, and says so.
TEST(RunProgram, OneThatOutlastsItsTimeLimitIsTerminatedWithWhatItStarted) {
  auto start = std::chrono::steady_clock::now();
  ProgramResult r =
      run_program({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, {}, {}, -1, std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, 128 + SIGTERM);
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(3));
  std::string sleeper = r.out.substr(0, r.out.find('\n'));
  ASSERT_FALSE(sleeper.empty());
  auto gone = [&sleeper] {
    std::ifstream in("/proc/" + sleeper + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return stat.empty() || stat.find(") Z ") != std::string::npos;  // a zombie no one reaped is gone
  };
  for (int i = 0; i < 100 && !gone(); ++i) ::usleep(20'000);
  EXPECT_TRUE(gone()) << "what it started runs on";
  // Also one that closed its output first.
  start = std::chrono::steady_clock::now();
  r = run_program({"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 30"}, {}, {}, -1, std::chrono::milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, 128 + SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // Within it, it takes its time.
  r = run_program({"/bin/sh", "-c", "sleep 0.2"}, {}, {}, -1, std::chrono::seconds(5));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 0);
}

// A program with a time limit tells whoever asked, before it starts, how
// long it may take at most (a unit waiting for crt's cleanup waits that long
// again); one without a limit tells no one.
TEST(RunProgram, OneWithATimeLimitSaysHowLongItMayTakeBeforeItStarts) {
  std::string file = ::testing::TempDir() + "/on-start-" + std::to_string(::getpid());
  std::vector<std::string> told;
  auto on_start = [&](std::chrono::milliseconds most) {
    std::error_code ec;
    told.push_back(std::to_string(most.count()) + (std::filesystem::exists(file, ec) ? " after" : " before"));
  };
  ProgramResult r =
      run_program({"/bin/sh", "-c", "touch \"$0\"", file}, {}, {}, -1, TimeLimit(std::chrono::seconds(2), on_start));
  EXPECT_EQ(r.status, 0);
  r = run_program({"/bin/sh", "-c", "rm \"$0\"", file}, {}, {}, -1, TimeLimit(std::chrono::milliseconds(0), on_start));
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(told, ::testing::ElementsAre("8000 before"));
}

// A lock crt hands a program (a CNI plugin, the pod's) stays held while the
// program, or what it left running with the fd, lives: crt's end does not
// free it. Other fds of crt's do not reach the program.
TEST(RunProgram, AnInheritedLockIsHeldByWhatTheProgramLeavesRunning) {
  test::Scratch s;
  FileLock lock = FileLock::try_acquire(s / "lock", FileLock::Mode::kExclusive);
  ASSERT_TRUE(lock.valid());
  std::string fd = std::to_string(lock.fd());
  ProgramResult r = run_program({"/bin/sh", "-c", "test -e /proc/self/fd/" + fd}, {});
  EXPECT_NE(r.status, 0) << "an fd of crt's reached the program";
  // It starts a process that keeps the fd (as a plugin starts iptables).
  r = run_program({"/bin/sh", "-c", "sleep 5 </dev/null >/dev/null 2>&1 & readlink /proc/self/fd/" + fd}, {}, {},
                  lock.fd());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, (s / "lock").string() + "\n");
  lock = FileLock();
  EXPECT_FALSE(FileLock::try_acquire(s / "lock", FileLock::Mode::kExclusive).valid());
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!FileLock::try_acquire(s / "lock", FileLock::Mode::kExclusive).valid() &&
         std::chrono::steady_clock::now() < until)
    ::usleep(50'000);
  EXPECT_TRUE(FileLock::try_acquire(s / "lock", FileLock::Mode::kExclusive).valid()) << "held after it ended";
}

std::atomic<int> alarms{0};

// A signal that interrupts the wait (its handler without SA_RESTART) does
// not end it: the child's status comes all the same.
TEST(WaitChild, GoesOnWaitingWhenASignalInterruptsIt) {
  struct sigaction on_alarm {
  }, was{};
  on_alarm.sa_handler = [](int) { ++alarms; };
  on_alarm.sa_flags = 0;  // no SA_RESTART: waitpid fails with EINTR
  ASSERT_EQ(::sigaction(SIGALRM, &on_alarm, &was), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::usleep(300000);
    _exit(7);
  }
  ASSERT_GT(child, 0);
  itimerval t{};
  t.it_value.tv_usec = 50000;
  ::setitimer(ITIMER_REAL, &t, nullptr);
  int status = 0;
  EXPECT_EQ(wait_child(child, &status), child);
  EXPECT_EQ(alarms.load(), 1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << status;
  ::sigaction(SIGALRM, &was, nullptr);
  // Reaped: no child of ours any more.
  EXPECT_EQ(wait_child(child, nullptr), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace crt
