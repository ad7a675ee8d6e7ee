// Per-app options: command, arguments, environment, user, group, working
// directory — values reach the app byte for byte.

#include <filesystem>
#include <fstream>

#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;

class AppOptionsTest : public PodTest {
 protected:
  /// NUL-separated words, as `printf '%s\0'` writes them.
  static std::vector<std::string> split0(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\0') {
        out.push_back(s.substr(start, i - start));
        start = i + 1;
      }
    }
    return out;
  }
};

const std::vector<std::string> kHostile = {
    "with space", "quote\"s", "single'q", "percent %i %% %n", "dollar $HOME ${PATH} $$", "back\\slash\\",
    "new\nline",  "tab\there", "utf8 ünïcödé ✓ 日本", "", "-leading-dash", ".dot", ";", "semi;colon",
    "equals=sign", "trailing space ", "controls \x01\x1b[0m\x7f\r"};

TEST_F(AppOptionsTest, ArgumentsReachTheAppByteForByte) {
  std::vector<std::string> args = {"run", "busybox", "--", "/bin/sh", "-c",
                                   "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > /args", "sh"};
  args.insert(args.end(), kHostile.begin(), kHostile.end());
  Result r = crt(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(split0(read_file(app_upper(pods("run").at(0), "busybox") + "/args")), kHostile);
}

TEST_F(AppOptionsTest, EnvironmentReachesTheAppByteForByte) {
  std::vector<std::string> args = {"run", "busybox"};
  for (size_t i = 0; i < kHostile.size(); ++i) args.push_back("--environment=V" + std::to_string(i) + "=" + kHostile[i]);
  args.insert(args.end(), {"--", "/bin/sh", "-c",
                           "i=0; while [ $i -lt " + std::to_string(kHostile.size()) +
                               " ]; do eval \"printf '%s\\0' \\\"\\$V$i\\\"\"; i=$((i+1)); done > /env"});
  Result r = crt(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(split0(read_file(app_upper(pods("run").at(0), "busybox") + "/env")), kHostile);
}

TEST_F(AppOptionsTest, DefaultEnvironment) {
  Result r = crt({"run", "busybox", "--", "env"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* kv : {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", "HOME=/root\n",
                         "USER=root\n", "LOGNAME=root\n", "SHELL=/bin/sh\n", "CRT_APP_NAME=busybox\n"})
    EXPECT_THAT(r.out, HasSubstr(kv));
}

TEST_F(AppOptionsTest, SetEnvAppliesToEveryAppAndEnvironmentToOne) {
  Result r = crt({"run", "--set-env=POD=all", "busybox", "--name=a", "--environment=ONLY=a", "--", "/bin/sh", "-c",
                  "echo $POD-$ONLY", "---", "busybox", "--name=b", "--", "/bin/sh", "-c", "sleep 0.3; echo $POD-$ONLY"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("a: all-a\n"));
  EXPECT_THAT(r.out, HasSubstr("b: all-\n"));
}

TEST_F(AppOptionsTest, AppFlagsBeforeTheImageApplyToEveryApp) {
  Result r = crt({"run", "--environment=X=shared", "busybox", "--name=a", "--", "/bin/sh", "-c", "echo $X", "---",
                  "busybox", "--name=b", "--environment=X=own", "--", "/bin/sh", "-c", "sleep 0.3; echo $X"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("a: shared\n"));
  EXPECT_THAT(r.out, HasSubstr("b: own\n"));
}

TEST_F(AppOptionsTest, UserAndGroupByNumberAndByNameFromTheImage) {
  Result r = crt({"run", "busybox", "--user=33", "--group=100", "--", "/bin/sh", "-c", "id -u; id -g"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "33\n100\n");
  r = crt({"run", "busybox", "--user=www-data", "--", "/bin/sh", "-c", "id -u; id -g; echo $HOME $USER"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "33\n33\n/var/www www-data\n");
  r = crt({"run", "busybox", "--user=nobody", "--group=users", "--", "/bin/sh", "-c", "id -u; id -g"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "65534\n100\n");
}

// As docker and podman: a user given without a group gets the groups the
// image's /etc/group lists it in; with a group, only that one.
TEST_F(AppOptionsTest, AUserGetsItsSupplementaryGroupsFromTheImage) {
  std::string rootfs = dir_ + "/rootfs";
  std::filesystem::create_directories(rootfs + "/bin");
  std::filesystem::create_directories(rootfs + "/etc");
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox");
  std::filesystem::create_symlink("busybox", rootfs + "/bin/id");
  std::ofstream(rootfs + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
  std::ofstream(rootfs + "/etc/group")
      << "root:x:0:\nalice:x:1000:\nadm:x:4:bob,alice\nstaff:x:50:bob\naudio:x:29:alice\n";
  ASSERT_EQ(crt({"image", "import", rootfs, "groups:1"}).status, 0);
  Result r = crt({"run", "groups:1", "--user=alice", "--exec=/bin/id", "--", "-G"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1000 4 29\n");
  r = crt({"run", "groups:1", "--user=1000", "--supplementary-gids=7,4", "--exec=/bin/id", "--", "-G"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1000 4 7 29\n");  // the kernel keeps them sorted
  r = crt({"run", "groups:1", "--user=alice", "--group=50", "--exec=/bin/id", "--", "-G"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "50\n");
}

TEST_F(AppOptionsTest, WorkingDirectoryIsCreatedIfMissing) {
  Result r = crt({"run", "busybox", "--working-dir=/srv/my dir", "--", "/bin/pwd"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/srv/my dir\n");
  // Named with "." and "..", as docker takes them.
  r = crt({"run", "busybox", "--working-dir=/srv/./new/../newer/", "--", "/bin/pwd"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/srv/newer\n");
}

// systemd changes to the app's working directory also for crt's command at
// the app's end: an app that removed it still ends, with its own status
// (its unit's OnFailure= records it; the pod waited for ever before).
TEST_F(AppOptionsTest, AnAppThatRemovesItsWorkingDirectoryStillEnds) {
  Result r = crt({"run", "--net=none", "busybox", "--working-dir=/w", "--", "/bin/sh", "-c",
                  "cd / && rmdir /w && echo removed && exit 7"},
                 {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = false});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_EQ(r.out, "removed\n");
  // One the pod's policy stops is recorded so, as its own end would be:
  // the pod ends as the app that ended first did.
  r = crt({"run", "--net=none", "--exit-policy=on-any-exit", "busybox", "--name=first", "--", "/bin/sh", "-c",
           "sleep 1", "---", "busybox", "--name=stopped", "--working-dir=/w", "--", "/bin/sh", "-c",
           "cd / && rmdir /w && exec sleep 100"},
          {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = false});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(AppOptionsTest, ExecReplacesTheImageCommand) {
  Result r = crt({"run", "busybox", "--exec=/bin/echo", "--", "from", "exec"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "from exec\n");
}

TEST_F(AppOptionsTest, BareCommandNamesAreFoundInPath) {
  Result r = crt({"run", "busybox", "--", "echo", "found"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "found\n");
}

TEST_F(AppOptionsTest, EntrypointAndCmdFollowOciRules) {
  std::string rootfs = dir_ + "/rootfs";
  std::filesystem::create_directories(rootfs + "/bin");
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox");
  std::filesystem::create_symlink("busybox", rootfs + "/bin/echo");
  Result r = crt({"image", "import", rootfs, "echoer:1", "--entrypoint=/bin/echo", "--entrypoint=entry",
                  "--cmd=default"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "echoer:1"});
  EXPECT_EQ(r.out, "entry default\n") << r.err;
  r = crt({"run", "echoer:1", "--", "given"});
  EXPECT_EQ(r.out, "entry given\n") << r.err;
  r = crt({"run", "echoer:1", "--exec=/bin/echo", "--", "exec"});
  EXPECT_EQ(r.out, "exec\n") << r.err;
}

}  // namespace
}  // namespace crt::test
