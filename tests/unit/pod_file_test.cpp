#include "podfile/pod_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "pod/run_args.hpp"
#include "podfile/generate.hpp"
#include "podfile/pod_unit.hpp"
#include "test_support.hpp"
#include "unit/render.hpp"

namespace crt::podfile {
namespace {

namespace stdfs = std::filesystem;

/// What pod_unit() throws for a pod file of `text` named `path`, or "(no error)".
std::string pod_file_error(const std::string& text, const std::string& path = "/p/web.pod") {
  return test::error_of([&] { pod_unit(parse(text, path), "/usr/bin/crt"); });
}

TEST(PodFileName, NoPodTakesTheNameOfAServiceCrtShips) {
  int shipped = 0;
  for (const auto& de : stdfs::directory_iterator(stdfs::path(CRT_SOURCE_DIR) / "host-units")) {
    std::string unit = de.path().filename().string();
    if (unit.size() > 3 && unit.compare(unit.size() - 3, 3, ".in") == 0) unit.resize(unit.size() - 3);
    const std::string prefix = "crt-", suffix = ".service";
    if (unit.rfind(prefix, 0) != 0 || unit.size() <= prefix.size() + suffix.size() ||
        unit.compare(unit.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    ++shipped;
    std::string pod = unit.substr(prefix.size(), unit.size() - prefix.size() - suffix.size());
    EXPECT_EQ(
        pod_file_error("[Pod]\nName=" + pod + "\n[App a]\nImage=busybox\n"),
        "/p/web.pod:2: Name: invalid pod name '" + pod + "': its unit '" + unit + "' would hide the one crt ships");
    EXPECT_EQ(pod_file_error("[App a]\nImage=busybox\n", "/p/" + pod + ".pod"),
              "/p/" + pod + ".pod: the pod name from the file name: invalid pod name '" + pod + "': its unit '" + unit +
                  "' would hide the one crt ships; set Name= in [Pod]");
  }
  EXPECT_GE(shipped, 1) << "no crt-*.service in host-units/";
}

// SourcePath= is absolute, which systemd needs, also for a file named by a
// relative path (crt-generator --dry-run, crt pod-file validate --show-unit).
TEST(PodFileUnit, SourcePathIsAbsolute) {
  PodUnit pu = pod_unit(parse("[App a]\nImage=busybox\n", "pods/./web.pod"), "/usr/bin/crt");
  EXPECT_THAT(unit::render(pu.unit),
              ::testing::HasSubstr("\nSourcePath=" + (stdfs::current_path() / "pods/web.pod").string() + "\n"));
}

TEST(PodFileName, FromTheFileNameIsCheckedAsNameIs) {
  EXPECT_EQ(pod_file_error("[App a]\nImage=busybox\n", "/p/crt-0123456789abcdef0123456789abcdef.pod"),
            "/p/crt-0123456789abcdef0123456789abcdef.pod: the pod name from the file name: pod name "
            "'crt-0123456789abcdef0123456789abcdef' has the form of the machine names crt gives pods without a name "
            "(crt-UUID); choose another; set Name= in [Pod]");
}

// An image name crt run would refuse is refused as the pod file is read;
// an ID, a digest and a registry's reference pass as crt run takes them.
TEST(PodFileImage, IsCheckedAsCrtRunChecksIt) {
  EXPECT_EQ(pod_file_error("[App a]\nImage=BadImage\n"),
            "/p/web.pod:2: Image: invalid image name 'BadImage': it must start with a lowercase letter or digit");
  EXPECT_EQ(pod_file_error("[App a]\nImage=team/App:1\n"),
            "/p/web.pod:2: Image: invalid image name 'team/App:1': only lowercase letters, digits, '.', '_', '-', "
            "'/' and ':' are allowed");
  for (const char* ok : {"busybox", "team/app:1", "Registry.Example.ORG:5000/team/app:1", "docker.io/nginx",
                         "sha256:a0beac218f74", "a0beac218f74", "team/app@sha256:a0beac218f74",
                         "a0beac218f74e63dfbc53271417f8228ff604751e41356ea35d2e041f3bbcb33"})
    EXPECT_EQ(pod_file_error(std::string("[App a]\nImage=") + ok + "\n"), "(no error)") << ok;
}

// As --exec: a path, or a name crt run looks up in the app's $PATH.
TEST(PodFileExec, IsAPathOrANameAsWithExec) {
  for (const char* exec : {"/bin/sh", "echo", "bin/tool"})
    EXPECT_EQ(pod_file_error(std::string("[App a]\nImage=busybox\nExec=") + exec + "\n"), "(no error)") << exec;
  std::vector<std::string> args = run_args(parse("[App a]\nImage=busybox\nExec=echo\n", "/p/web.pod"));
  EXPECT_NE(std::find(args.begin(), args.end(), "--exec=echo"), args.end());
}

// Remove= is crt run's --rm, a boolean as the other keys' (the default,
// no: the unit's exited pods stay until crt gc).
TEST(PodFileRemove, IsRunsRmAndABoolean) {
  auto removes = [](const std::string& pod) {
    return pod::parse_run_args(run_args(parse(pod + "[App a]\nImage=busybox\n", "/p/web.pod"))).pod.remove;
  };
  EXPECT_FALSE(removes(""));
  EXPECT_TRUE(removes("[Pod]\nRemove=yes\n"));
  EXPECT_TRUE(removes("[Pod]\nRemove=true\n"));
  EXPECT_TRUE(removes("[Pod]\nRemove=Yes\n")) << "any case, as systemd's";
  EXPECT_FALSE(removes("[Pod]\nRemove=no\n"));
  EXPECT_FALSE(removes("[Pod]\nRemove=0\n"));
  EXPECT_EQ(pod_file_error("[Pod]\nRemove=sometimes\n[App a]\nImage=busybox\n"),
            "/p/web.pod:2: Remove: 'sometimes' is not one of yes, no, true, false, on, off, 1 or 0");
  EXPECT_EQ(pod_file_error("[Pod]\nRemove=yes\nRemove=no\n[App a]\nImage=busybox\n"),
            "/p/web.pod:3: Remove: given twice (first on line 2)");
  EXPECT_EQ(pod_file_error("[App a]\nImage=busybox\nRemove=yes\n"), "/p/web.pod:3: Remove: unknown key in [App a]");
}

// As crt run: one host port on two of the host's addresses is two ports,
// and one on all of them clashes with any.
TEST(PodFilePorts, OneHostPortOnTwoAddressesIsTwoPorts) {
  EXPECT_EQ(pod_file_error("[Pod]\nPort=127.0.0.1:8080:80\nPort=[2001:db8::1]:8080:80\n[App a]\nImage=busybox\n"),
            "(no error)");
  EXPECT_EQ(pod_file_error("[Pod]\nPort=8080:80\nPort=127.0.0.1:8080:81\n[App a]\nImage=busybox\n"),
            "/p/web.pod:3: Port: host port 8080/tcp is given twice (first on line 2)");
  EXPECT_EQ(pod_file_error("[Pod]\nPort=[::]:8080:80\nPort=[2001:db8::1]:8080:81\n[App a]\nImage=busybox\n"),
            "/p/web.pod:3: Port: host port 8080/tcp is given twice (first on line 2)");
  // [::] is IPv6's every address alone, 0.0.0.0 IPv4's.
  EXPECT_EQ(pod_file_error("[Pod]\nPort=127.0.0.1:8080:80\nPort=[::]:8080:81\n[App a]\nImage=busybox\n"),
            "(no error)");
  EXPECT_EQ(pod_file_error("[Pod]\nPort=0.0.0.0:8080:80\nPort=[::]:8080:80\n[App a]\nImage=busybox\n"),
            "(no error)");
  EXPECT_EQ(pod_file_error("[Pod]\nPort=127.0.0.1:8080:80\nPort=127.0.0.1:8080:81\n[App a]\nImage=busybox\n"),
            "/p/web.pod:3: Port: host port 8080/tcp on 127.0.0.1 is given twice (first on line 2)");
}

TEST(PodFileMask, GivenByNameIsMaskedNotBroken) {
  test::Scratch s;
  test::write_text(s / "emptied.pod", "");
  stdfs::create_symlink("/dev/null", s / "nulled.pod");
  test::write_text(s / "web.pod", "[App a]\nImage=busybox\n");
  Generated g = generate({s / "emptied.pod", s / "nulled.pod", s / "web.pod"}, "/usr/bin/crt");
  EXPECT_TRUE(g.errors.empty()) << g.errors.front();
  EXPECT_EQ(g.masked, (std::vector<std::string>{(s / "emptied.pod").string(), (s / "nulled.pod").string()}));
  ASSERT_EQ(g.files.size(), 1u);
  EXPECT_EQ(g.files[0].path, "crt-web.service");
}

// A refused pod file still makes a unit where the admin looks for the pod:
// under its Name= when the file parses that far, else its file name, and
// never in the stead of another file's unit.
TEST(PodFileRefused, MakesAUnitThatSaysWhyUnderTheNameTheAdminLooksFor) {
  test::Scratch s;
  test::write_text(s / "first.pod", "[Pod]\nName=web\nMemory=lots\n[App a]\nImage=busybox\n");
  test::write_text(s / "second.pod", "[Pod\nName=db\n");  // not parsed as far as Name=
  test::write_text(s / "third.pod", "[Pod]\nName=good\nBogus=1\n[App a]\nImage=busybox\n");
  test::write_text(s / "good.pod", "[App a]\nImage=busybox\n");
  test::write_text(s / "bad name.pod", "[App a]\nImage=busybox\n");
  Generated g = generate({s / "first.pod", s / "second.pod", s / "third.pod", s / "good.pod", s / "bad name.pod"},
                         "/usr/bin/crt");
  EXPECT_EQ(g.errors.size(), 4u);
  std::map<std::string, const OutputFile*> units;
  for (const auto& f : g.files) units[f.path] = &f;
  ASSERT_EQ(units.size(), 4u) << ::testing::PrintToString(g.errors);
  ASSERT_TRUE(units.count("crt-web.service"));
  EXPECT_TRUE(units["crt-web.service"]->refused);
  EXPECT_THAT(units["crt-web.service"]->content,
              ::testing::HasSubstr("\nDescription=crt pod web: pod file refused: " + (s / "first.pod").string() +
                                   ":3: Memory: invalid memory size 'lots'"));
  EXPECT_THAT(units["crt-web.service"]->content,
              ::testing::HasSubstr("\nExecStart=@\"/usr/bin/crt\" \"crt\" \"pod-file\" \"refused\" \"--\" \"" +
                                   (s / "first.pod").string() + "\" \"" + (s / "first.pod").string() + ":3: Memory: "));
  EXPECT_TRUE(units.count("crt-second.service"));
  // Name=good is the good file's: the refused one takes its file name.
  EXPECT_FALSE(units["crt-good.service"]->refused);
  EXPECT_TRUE(units.count("crt-third.service"));
  // Not a valid pod name (and no Name=): no unit, the kernel log alone.
  EXPECT_FALSE(units.count("crt-bad name.service"));
}

TEST(PodFileRefused, ANameIsNotReadFromAFifo) {
  test::Scratch s;
  ASSERT_EQ(::mkfifo((s / "web.pod").c_str(), 0600), 0);
  EXPECT_EQ(refused_pod_names(s / "web.pod"), std::vector<std::string>{"web"});
}

// A reason that is not UTF-8, or has a control character, is still
// shown in the description systemd takes (the command gets it whole).
TEST(PodFileRefused, AnyReasonMakesAUnitSystemdTakes) {
  PodUnit pu = refused_pod_unit("web", "/p/web.pod", "/p/web.pod:2: bad \xff\x01 100% $HOME \"q\"", "/usr/bin/crt");
  std::string text = unit::render(pu.unit);
  EXPECT_THAT(text, ::testing::HasSubstr("\nDescription=crt pod web: pod file refused: /p/web.pod:2: bad ?  100%% "
                                         "$HOME \"q\"\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("\"/p/web.pod:2: bad \\xff\\x01 100%% $$HOME \\\"q\\\"\"\n"));
}

// /dev/kmsg refuses a record of more than about 1 KiB whole: a long message
// is cut to fit, at a character, and says so.
TEST(KmsgRecord, ALongMessageIsCutToOneRecord) {
  EXPECT_EQ(kmsg_record("f.pod:2: Key: bad", 42), "<3>crt-generator[42]: f.pod:2: Key: bad\n");
  std::string fits(kKmsgRecordMax - std::string("<3>crt-generator[42]: \n").size(), 'x');
  EXPECT_EQ(kmsg_record(fits, 42).size(), kKmsgRecordMax);
  // Two- and three-byte characters, each cut at every place within one
  // (the PIDs' lengths move the cut).
  for (const std::string character : {"\u00e9", "\u20ac"})
    for (long pid : {42, 423, 4234}) {
      std::string long_message = "f.pod:2: Key: '";
      while (long_message.size() < 2000) long_message += character;
      std::string r = kmsg_record(long_message, pid);
      EXPECT_LE(r.size(), kKmsgRecordMax) << pid;
      EXPECT_GE(r.size(), kKmsgRecordMax - character.size() + 1) << pid;
      std::string head = "<3>crt-generator[" + std::to_string(pid) + "]: f.pod:2: Key: '" + character;
      EXPECT_EQ(r.rfind(head, 0), 0u) << pid;
      std::string end = character + "… (cut: 'crt pod-file validate FILE' shows it whole)\n";
      ASSERT_GE(r.size(), end.size());
      EXPECT_EQ(r.substr(r.size() - end.size()), end) << pid << ": cut after a whole character";
    }
  // Bytes of no character are escaped, and cut between escapes.
  std::string r = kmsg_record("f.pod:2: Key: '" + std::string(2000, '\x80'), 42);
  EXPECT_LE(r.size(), kKmsgRecordMax);
  EXPECT_GE(r.size(), kKmsgRecordMax - 4);
  EXPECT_EQ(r.rfind("<3>crt-generator[42]: f.pod:2: Key: '\\x80\\x80", 0), 0u) << r;
  EXPECT_THAT(r, ::testing::EndsWith("\\x80… (cut: 'crt pod-file validate FILE' shows it whole)\n"));
}

// What a pod file holds reaches the kernel log on one line and as UTF-8:
// bytes of no character and control characters as C escapes (journald
// would keep a record of other bytes as a blob, and a terminal reading
// dmesg would take them as they are); characters as they are.
TEST(KmsgRecord, BadBytesAreEscaped) {
  EXPECT_EQ(kmsg_record("/etc/crt/pods/we\xff.pod:2: Name: invalid pod name 'a\xc3(b\x1b[31m\tc'", 7),
            "<3>crt-generator[7]: /etc/crt/pods/we\\xff.pod:2: Name: invalid pod name 'a\\xc3(b\\x1b[31m\\tc'\n");
  EXPECT_EQ(kmsg_record("caf\u00e9 \u20ac \U0001f600 \\x", 7),
            "<3>crt-generator[7]: caf\u00e9 \u20ac \U0001f600 \\x\n");
  // Overlong forms, surrogates and code points past U+10FFFF are no UTF-8.
  EXPECT_EQ(kmsg_record("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80", 7),
            "<3>crt-generator[7]: \\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80\n");
  // Cut, never inside an escape.
  for (size_t pad = 0; pad < 8; ++pad) {
    std::string r = kmsg_record(std::string(800 + pad, 'x') + std::string(200, '\n'), 7);
    EXPECT_LE(r.size(), kKmsgRecordMax);
    EXPECT_THAT(r, ::testing::EndsWith("\\n… (cut: 'crt pod-file validate FILE' shows it whole)\n")) << pad;
  }
}

}  // namespace
}  // namespace crt::podfile
