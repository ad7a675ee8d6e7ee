#include "runtime/journal_stream.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace crt::runtime {
namespace {

TEST(JournalSender, HasTheProcesssEffectiveUserAndGroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change a child's user";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Real and effective apart, as after a setuid program's start.
    if (::setresgid(0, 4321, 0) < 0 || ::setresuid(0, 1234, 0) < 0) _exit(1);
    (void)::write(ready[1], "x", 1);
    ::pause();
    _exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  JournalSender s = journal_sender(child);
  EXPECT_EQ(s.pid, child);
  EXPECT_EQ(s.uid, 1234U);
  EXPECT_EQ(s.gid, 4321U);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // Gone: nothing to read, user and group 0.
  s = journal_sender(child);
  EXPECT_EQ(s.uid, 0U);
  EXPECT_EQ(s.gid, 0U);
}

}  // namespace
}  // namespace crt::runtime
