#include "unit/render.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::unit {
namespace {

TEST(Value, AdjacentTextPartsMerge) {
  Value v = Value("a") + Value("b") + Specifier{'i'} + Value("c") + Value("d");
  ASSERT_EQ(v.parts().size(), 3u);
  EXPECT_EQ(std::get<std::string>(v.parts()[0]), "ab");
  EXPECT_EQ(std::get<Specifier>(v.parts()[1]).letter, 'i');
  EXPECT_EQ(std::get<std::string>(v.parts()[2]), "cd");
}

TEST(UnitFile, SectionIsFoundOrAppendedInOrder) {
  UnitFile u;
  u.section("Unit").set("A", "1");
  u.section("Service").set("B", "2");
  u.section("Unit").set("C", "3");
  ASSERT_EQ(u.sections.size(), 2u);
  EXPECT_EQ(u.sections[0].name, "Unit");
  EXPECT_EQ(u.sections[0].entries.size(), 2u);
}

TEST(Render, CommentsSectionsAndEntriesInOrder) {
  UnitFile u;
  u.comments = {"Generated.", ""};
  u.section("Unit").set("Description", "d").set("After", "a.service");
  u.section("Service").set("Type", "exec");
  EXPECT_EQ(render(u),
            "# Generated.\n"
            "#\n"
            "\n"
            "[Unit]\n"
            "Description=d\n"
            "After=a.service\n"
            "\n"
            "[Service]\n"
            "Type=exec\n");
}

TEST(Render, NoCommentsMeansNoLeadingBlankLine) {
  UnitFile u;
  u.section("Unit").set("X", "1");
  EXPECT_EQ(render(u), "[Unit]\nX=1\n");
  EXPECT_EQ(render(UnitFile{}), "");
}

TEST(Render, RepeatedKeysAreKept) {
  UnitFile u;
  u.section("Service").set("DeviceAllow", "/dev/tty rw").set("DeviceAllow", "char-pts rw");
  EXPECT_EQ(render(u), "[Service]\nDeviceAllow=/dev/tty rw\nDeviceAllow=char-pts rw\n");
}

TEST(Render, ExecUsesAtPrefixPathAndQuotedArgv) {
  UnitFile u;
  u.section("Service").set_exec("ExecStart", {"", "/bin/busybox", {"sh", "-c", "echo $HOME 100%"}});
  EXPECT_EQ(render(u), "[Service]\nExecStart=@\"/bin/busybox\" \"sh\" \"-c\" \"echo $$HOME 100%%\"\n");
}

TEST(Render, ALineSystemdWouldNotReadIsAnErrorNamingItsKey) {
  // systemd reads lines of less than 1 MiB; over that it refuses the unit.
  UnitFile u;
  std::vector<Value> argv = {Value("sh")};
  for (int i = 0; i < 9; ++i) argv.emplace_back(std::string(120 * 1024, 'x'));
  u.section("Service").set_exec("ExecStart", ExecCommand{"", Value("/bin/busybox"), argv});
  try {
    render(u);
    FAIL() << "rendered";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rendering ExecStart=: it would be 1105"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("less than 1 MiB"), std::string::npos) << e.what();
  }
  argv.resize(8, Value(""));
  u = UnitFile();
  u.section("Service").set_exec("ExecStart", ExecCommand{"", Value("/bin/busybox"), argv});
  EXPECT_NO_THROW(render(u));
}

TEST(Render, ExecPathKeepsDollarButDoublesPercent) {
  // systemd expands $VAR in arguments only, specifiers everywhere.
  UnitFile u;
  u.section("Service").set_exec("ExecStart", {"", "/opt/$dir/50%/b in", {"$0"}});
  EXPECT_EQ(render(u), "[Service]\nExecStart=@\"/opt/$dir/50%%/b in\" \"$$0\"\n");
}

// systemd refuses an Exec*= binary path that holds a quote, a backslash or a
// control character ("Executable name contains special characters"), and
// the unit does not load (Load State: bad-setting).
TEST(Render, ExecPathSystemdRefusesIsAnError) {
  for (const char* path : {"/bin/a\"b", "/bin/it's", "/bin/a\\b", "/bin/a\nb", "/bin/a\tb", "/bin/a\x7f"}) {
    UnitFile u;
    u.section("Service").set_exec("ExecStart", {"", path, {"x"}});
    EXPECT_THROW(render(u), Error) << path;
  }
}

TEST(Render, ExecPathWithSpacesPercentDollarAndUtfEightIsFine) {
  UnitFile u;
  u.section("Service").set_exec("ExecStart", {"", "/opt/my app/-bin/.x/caf\xc3\xa9", {"-x"}});
  EXPECT_EQ(render(u), "[Service]\nExecStart=@\"/opt/my app/-bin/.x/caf\xc3\xa9\" \"-x\"\n");
}

TEST(Render, ExecPrefixGoesBeforeTheAt) {
  UnitFile u;
  u.section("Service").set_exec("ExecStartPre", {"-", "/bin/true", {"true"}});
  EXPECT_EQ(render(u), "[Service]\nExecStartPre=-@\"/bin/true\" \"true\"\n");
}

TEST(Render, ExecArgv0MayDifferFromPath) {
  UnitFile u;
  u.section("Service").set_exec("ExecStart", {"", "/bin/busybox", {"-sh", "", "--"}});
  EXPECT_EQ(render(u), "[Service]\nExecStart=@\"/bin/busybox\" \"-sh\" \"\" \"--\"\n");
}

TEST(Render, ExecWithoutArgvThrows) {
  UnitFile u;
  u.section("Service").set_exec("ExecStart", {"", "/bin/true", {}});
  EXPECT_THROW(render(u), Error);
}

TEST(Render, ExecArgumentWithNewlineIsEscapedNotSplit) {
  UnitFile u;
  u.section("Service").set_exec("ExecStart", {"", "/bin/echo", {"echo", "a\nb", "c\td"}});
  EXPECT_EQ(render(u), "[Service]\nExecStart=@\"/bin/echo\" \"echo\" \"a\\nb\" \"c\\td\"\n");
}

TEST(Render, EnvironmentWordsKeepDollar) {
  UnitFile u;
  u.section("Service").set_words("Environment", WordStyle::kCEscaped, {Value("A=$B;C=d e"), Value("P=100%")});
  EXPECT_EQ(render(u), "[Service]\nEnvironment=\"A=$B;C=d e\" \"P=100%%\"\n");
}

TEST(Render, ErrorNamesTheSetting) {
  UnitFile u;
  u.section("Service").set("WorkingDirectory", "/a\nb");
  try {
    render(u);
    FAIL() << "rendered a newline";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("rendering WorkingDirectory=: ", 0), 0u) << e.what();
  }
}

// A newline in a comment ends the comment: the rest would be parsed as unit
// settings.
TEST(Render, NewlineInCommentIsAnError) {
  UnitFile u;
  u.comments = {"x\nExecStartPre=/bin/evil"};
  u.section("Unit").set("Description", "d");
  EXPECT_THROW(render(u), Error);
}

TEST(Write, WritesTheRenderedFileAtomically) {
  test::Scratch s;
  UnitFile u;
  u.section("Unit").set("Description", "d");
  write(u, s / "a.service");
  EXPECT_EQ(test::read_text(s / "a.service"), "[Unit]\nDescription=d\n");
  struct stat st {};
  ASSERT_EQ(::stat((s / "a.service").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(test::list_dir(s.path()), std::vector<std::string>{"a.service"});
}

TEST(Write, NothingIsWrittenWhenRenderingFails) {
  test::Scratch s;
  UnitFile u;
  u.section("Unit").set("Description", "bad\n");
  EXPECT_THROW(write(u, s / "a.service"), Error);
  EXPECT_TRUE(test::list_dir(s.path()).empty());
}

}  // namespace
}  // namespace crt::unit
