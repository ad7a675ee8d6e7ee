#include "runtime/console_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace crt::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// As the pod's systemd writes its errors to a console that is a terminal.
const std::string kConsole =
    "\x1b[0;1;31mFailed to create symlink /sys/fs/cgroup/cpu: File exists\x1b[0m\r\r\n"
    "\x1b[0;1;31mjunk.service: Failed to execute /bin/junk: Exec format error\x1b[0m\r\r\n"
    "\x1b[0;1;39mjunk.service: Failed at step EXEC spawning /bin/junk: Exec format error\x1b[0m\r\r\n"
    "\x1b]0;title\ajunk-2.service: not junk's\r\n"
    "partial line";

TEST(ConsoleLog, LinesLoseTheTerminalsEscapesAndCarriageReturns) {
  EXPECT_THAT(console_lines(kConsole),
              ElementsAre("Failed to create symlink /sys/fs/cgroup/cpu: File exists",
                          "junk.service: Failed to execute /bin/junk: Exec format error",
                          "junk.service: Failed at step EXEC spawning /bin/junk: Exec format error",
                          "junk-2.service: not junk's", "partial line"));
  EXPECT_THAT(console_lines(""), IsEmpty());
  EXPECT_THAT(console_lines("\n\n"), ElementsAre("", ""));
  // An escape cut off at the end of the file is dropped, not shown in part.
  EXPECT_THAT(console_lines("text\x1b[0;1"), ElementsAre("text"));
  EXPECT_THAT(console_lines("text\x1b]0;ti"), ElementsAre("text"));
  EXPECT_THAT(console_lines("text\x1b"), ElementsAre("text"));
  EXPECT_THAT(console_lines("a\x1b"
                            "7b\x1b]2;t\x1b\\c"),
              ElementsAre("abc"));
}

TEST(ConsoleLog, LinesAboutAUnitAreTheOnesItPrefixes) {
  EXPECT_THAT(console_lines_about(kConsole, "junk.service"),
              ElementsAre("junk.service: Failed to execute /bin/junk: Exec format error",
                          "junk.service: Failed at step EXEC spawning /bin/junk: Exec format error"));
  EXPECT_THAT(console_lines_about(kConsole, "junk-2.service"), ElementsAre("junk-2.service: not junk's"));
  EXPECT_THAT(console_lines_about(kConsole, "other.service"), IsEmpty());
  EXPECT_THAT(console_lines_about("junk.service: \n", "junk.service"), IsEmpty());
}

TEST(ConsoleLog, PidOnesExecStepLineRepeatsTheAppsFailedToExecute) {
  std::vector<std::string> told = {"junk.service: Failed to execute /bin/junk: Exec format error"};
  EXPECT_TRUE(repeats_exec_failure("junk.service: Failed at step EXEC spawning /bin/junk: Exec format error", told));
  EXPECT_FALSE(repeats_exec_failure("junk.service: Failed at step EXEC spawning /bin/junk: Exec format error", {}));
  EXPECT_FALSE(repeats_exec_failure("junk.service: Failed at step EXEC spawning /bin/other: Exec format error", told));
  EXPECT_FALSE(repeats_exec_failure("junk-2.service: Failed at step EXEC spawning /bin/junk: Exec format error", told));
  EXPECT_FALSE(repeats_exec_failure("junk.service: Failed to execute /bin/junk: Exec format error", told));
}

TEST(ConsoleLog, TailHasTheLastLinesThatFit) {
  std::string console = "one\r\n\r\ntwo\r\n\x1b[1mthree\x1b[0m\r\n\r\n";
  EXPECT_EQ(console_tail(console, 1000), "one\ntwo\nthree");
  EXPECT_EQ(console_tail(console, 10), "two\nthree");
  EXPECT_EQ(console_tail(console, 2), "three") << "the last line, however long";
  EXPECT_EQ(console_tail("", 100), "");
}

}  // namespace
}  // namespace crt::runtime
