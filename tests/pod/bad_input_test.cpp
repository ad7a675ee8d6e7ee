// Bad input gets one clear error, crt's own exit status (254), and leaves
// nothing behind.

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/utsname.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "../support/oci_builder.hpp"
#include "common/fd.hpp"
#include "common/json_text.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;

class BadInputTest : public PodTest {
 protected:
  void expect_clean_failure(const std::vector<std::string>& args, const std::string& message) {
    Result r = crt(args);
    EXPECT_EQ(r.status, 254) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(message));
    EXPECT_TRUE(r.out.empty()) << r.out;
    for (const char* state : {"prepare", "prepared", "run"}) EXPECT_TRUE(pods(state).empty()) << state;
  }
};

TEST_F(BadInputTest, UnknownImage) {
  expect_clean_failure({"run", "no-such-image", "--", "/bin/true"}, "no image 'no-such-image' in the store");
}

TEST_F(BadInputTest, ImageWithoutCommand) {
  std::filesystem::create_directories(dir_ + "/rootfs/bin");
  ASSERT_EQ(crt({"image", "import", dir_ + "/rootfs", "empty"}).status, 0);
  expect_clean_failure({"run", "empty"}, "has no command: give one with --exec or after '--'");
}

// An image whose /sys is a symlink would have the app's sysfs mounted where
// it leads, and the sandbox's masks below /sys missed: refused.
TEST_F(BadInputTest, AnImageWhoseSysIsASymlinkIsRefused) {
  std::filesystem::create_directories(dir_ + "/rootfs/bin");
  std::filesystem::create_directories(dir_ + "/rootfs/x");
  std::filesystem::create_directory_symlink("/x", dir_ + "/rootfs/sys");
  ASSERT_EQ(crt({"image", "import", dir_ + "/rootfs", "linked"}).status, 0);
  expect_clean_failure({"run", "linked", "--exec=/bin/true"},
                       "/sys in image 'linked:latest' is a symbolic link: crt mounts the app's own there, and its "
                       "sandbox needs it to be a directory");
}

// The pod's systemd follows /run from the rootfs's place in stage1, where
// a link that climbs above the image's root leads out of the rootfs: the
// app would fail to start with "Failed at step NAMESPACE". Refused before
// the pod starts, naming the image and the link.
TEST_F(BadInputTest, AnImageWhoseRunClimbsAboveItsRootIsRefused) {
  std::filesystem::create_directories(dir_ + "/rootfs/bin");
  std::filesystem::create_directories(dir_ + "/rootfs/tmp");
  std::filesystem::create_directory_symlink("../../../tmp", dir_ + "/rootfs/run");
  // A command that would run (the test image's busybox is static): the
  // failure is the link's.
  std::filesystem::copy_file("/bin/busybox", dir_ + "/rootfs/bin/true");
  ASSERT_EQ(crt({"image", "import", dir_ + "/rootfs", "climbing"}).status, 0);
  expect_clean_failure({"run", "--net=none", "climbing", "--exec=/bin/true"},
                       "/run in image 'climbing:latest' is a symbolic link to '../../../tmp' which climbs above the "
                       "image's root");
}

// An image's directory where the pod mounts a file of its own,
// or an /etc that is no directory: said so, naming the path (the mount
// gave only "Invalid argument"; of the two files read, the second was named).
TEST_F(BadInputTest, AnImagesEtcThatIsNotWhatThePodNeedsIsNamed) {
  std::filesystem::create_directories(dir_ + "/fileetc/bin");
  std::ofstream(dir_ + "/fileetc/etc") << "not a directory\n";
  std::filesystem::copy_file("/bin/busybox", dir_ + "/fileetc/bin/true");
  ASSERT_EQ(crt({"image", "import", dir_ + "/fileetc", "fileetc"}).status, 0);
  expect_clean_failure({"run", "--net=none", "fileetc", "--exec=/bin/true"}, "'/etc/passwd'");
  std::filesystem::create_directories(dir_ + "/dirhosts/bin");
  std::filesystem::create_directories(dir_ + "/dirhosts/etc/hosts");
  std::filesystem::copy_file("/bin/busybox", dir_ + "/dirhosts/bin/true");
  ASSERT_EQ(crt({"image", "import", dir_ + "/dirhosts", "dirhosts"}).status, 0);
  // prepare-app's, in the pod: it ends as an app that could not start.
  Result r = crt({"run", "--net=none", "dirhosts", "--exec=/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'/etc/hosts' exists and is a directory, not a file")) << r.err;
}

TEST_F(BadInputTest, ExecOfAMissingBinaryNamesTheRootfs) {
  Result r = crt({"run", "busybox", "--exec=/bin/nope"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("the binary '/bin/nope' does not exist in the rootfs of image 'busybox:latest'"));
  EXPECT_TRUE(pods("run").empty());
  EXPECT_TRUE(pods("prepare").empty());
  r = crt({"run", "busybox", "--", "nope-in-path"});
  EXPECT_THAT(r.err, HasSubstr("no binary 'nope-in-path' in $PATH"));
  r = crt({"run", "--set-env=PATH=/etc", "busybox", "--", "passwd"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no binary 'passwd' in $PATH (/etc): '/etc/passwd' is not an executable file in the "
                               "rootfs of image 'busybox:latest'"));
  EXPECT_TRUE(pods("run").empty());
}

// A binary whose interpreter the image lacks would fail as "Failed at step
// EXEC spawning /bin/true: No such file or directory", as if /bin/true
// were missing: what is missing is said, before the pod starts.
TEST_F(BadInputTest, ExecOfABinaryWhoseInterpreterIsMissingSaysWhichItIs) {
  if (!std::filesystem::exists("/lib64/ld-linux-x86-64.so.2")) GTEST_SKIP() << "the host's /bin/true is not x86-64's";
  std::filesystem::create_directories(dir_ + "/rootfs/bin");
  std::filesystem::copy_file("/bin/true", dir_ + "/rootfs/bin/true");  // dynamically linked
  std::ofstream(dir_ + "/rootfs/bin/script") << "#!/usr/bin/python3\nprint('hi')\n";
  std::filesystem::permissions(dir_ + "/rootfs/bin/script", std::filesystem::perms(0755));
  ASSERT_EQ(crt({"image", "import", dir_ + "/rootfs", "noloader"}).status, 0);
  expect_clean_failure({"run", "noloader", "--exec=/bin/true"},
                       "app 'noloader': '/bin/true' needs the dynamic loader '/lib64/ld-linux-x86-64.so.2', which "
                       "does not exist in the rootfs of image 'noloader:latest'");
  expect_clean_failure({"run", "noloader", "--exec=/bin/script"},
                       "app 'noloader': '/bin/script' is a script for '/usr/bin/python3' (its #! line), which does "
                       "not exist in the rootfs of image 'noloader:latest'");
}

TEST_F(BadInputTest, InvalidLimits) {
  expect_clean_failure({"run", "busybox", "--memory=lots", "--", "/bin/true"}, "invalid memory size 'lots'");
  expect_clean_failure({"run", "busybox", "--cpu=0", "--", "/bin/true"}, "must be more than zero");
  expect_clean_failure({"run", "busybox", "--cpu=fast", "--", "/bin/true"}, "invalid CPU amount 'fast'");
}

// What of an app's flags needs no image is checked before its image is
// looked for, so a typo is not found only after a long pull.
TEST_F(BadInputTest, AppFlagsAreCheckedBeforeTheImageIsLookedFor) {
  for (const auto& [flag, message] : std::vector<std::pair<std::string, std::string>>{
           {"--memory=512m",
            "crt: app 'app': invalid memory size '512m': expected bytes or a number with K, M, G, "
            "T, Ki, Mi, Gi or Ti (the suffixes are upper-case: 512M)\n"},
           {"--cpu=fast",
            "crt: app 'app': invalid CPU amount 'fast': expected millicores like 200m, or cores like "
            "0.5\n"},
           {"--user=a:", "crt: app 'app': --user 'a:': the group after ':' is empty\n"},
           {"--working-dir=srv", "crt: app 'app': working directory 'srv' must be an absolute path\n"},
           {"--working-dir=/a\tb",
            "crt: app 'app': working directory '/a\\tb' holds a control character (a unit cannot name it)\n"},
           {"--mount=volume=x", "crt: app 'app': --mount 'volume=x': target must be an absolute path\n"},
           {"--mount=volume=x,target=/proc",
            "crt: app 'app': --mount 'volume=x,target=/proc': the pod mounts '/proc' for every app: a volume on "
            "'/proc' would be hidden\n"},
       }) {
    Result r = crt({"run", "--pull-policy=never", "example.org/big/app:1", flag, "--", "/bin/true"});
    EXPECT_EQ(r.status, 254) << flag;
    EXPECT_EQ(r.err, message);
  }
  Result r = crt({"run", "--volume=data,kind=disk", "--pull-policy=never", "example.org/big/app:1"});
  EXPECT_THAT(r.err, HasSubstr("--volume 'data,kind=disk': kind must be host, empty or tmpfs"));
  r = crt({"run", "--volume=data,kind=empty,mode=999", "--pull-policy=never", "example.org/big/app:1"});
  EXPECT_THAT(r.err, HasSubstr("--volume 'data,kind=empty,mode=999': mode must be an octal number, not '999'"));
  for (const char* state : {"prepare", "prepared", "run"}) EXPECT_TRUE(pods(state).empty()) << state;
}

// Without systemd-nspawn, crt run says which package has it before it
// prepares anything.
TEST_F(BadInputTest, AHostWithoutNspawnIsToldWhatToInstall) {
  // In a mount namespace of its own, where nspawn is /dev/null.
  std::vector<std::string> argv = {"unshare",
                                   "-m",
                                   "--propagation",
                                   "private",
                                   "sh",
                                   "-c",
                                   "mount --bind /dev/null \"$(command -v systemd-nspawn)\" && exec \"$0\" \"$@\""};
  for (const auto& a : crt_argv({"run", "busybox", "--", "/bin/true"})) argv.push_back(a);
  Result r = Process(argv).wait();
  EXPECT_EQ(r.status, 254) << r.err;
  EXPECT_EQ(r.err,
            "crt: systemd-nspawn is not installed (not in $PATH): crt boots every pod with it; on Debian it is in "
            "package systemd-container\n");
  for (const char* state : {"prepare", "prepared", "run"}) EXPECT_TRUE(pods(state).empty()) << state;
}

// The pod's own environment flags are the pod's: checked before any image
// is looked up (so an image that is not there is no excuse), and said
// without naming an app.
TEST_F(BadInputTest, ThePodsEnvironmentFlagsAreCheckedFirst) {
  Result r = crt({"run", "--set-env=BAD", "no-such-image", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: invalid --set-env 'BAD': expected NAME=VALUE\n");
  std::ofstream(dir_ + "/env") << "GOOD=1\n# a comment\n\n9X=2\n";
  r = crt({"run", "--set-env-file=" + dir_ + "/env", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.err, "crt: invalid variable on line 4 of '" + dir_ +
                       "/env' '9X=2': a variable name cannot start with "
                       "a digit\n");
  r = crt({"run", "--set-env-file=" + dir_ + "/none", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.err, "crt: --set-env-file: opening '" + dir_ + "/none': No such file or directory\n");
  for (const char* state : {"prepare", "prepared", "run"}) EXPECT_TRUE(pods(state).empty()) << state;
}

// An environment file is read before crt takes the store or its signals:
// a FIFO no one writes waits for ^C (and keeps no other crt command
// waiting), and a file that never ends is refused at 1 MiB.
TEST_F(BadInputTest, AnEnvironmentFileThatNeverComesIsLeftWithCtrlC) {
  ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  Process p(crt_argv({"run", "--set-env-file=" + dir_ + "/fifo", "busybox", "--", "/bin/true"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Result gc = crt({"image", "gc"}, {.env = {}, .timeout = std::chrono::seconds(20), .input = {}, .new_session = false});
  EXPECT_EQ(gc.status, 0) << "the store is not held: " << gc.err;
  p.signal(SIGINT);
  auto start = std::chrono::steady_clock::now();
  Result r = p.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(r.status, 0);
  r = crt({"run", "--set-env-file=/dev/zero", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: --set-env-file: '/dev/zero' is larger than 1 MiB, more than an environment can hold\n");
  for (const char* state : {"prepare", "prepared", "run"}) EXPECT_TRUE(pods(state).empty()) << state;
}

TEST_F(BadInputTest, UnknownUserOrGroup) {
  expect_clean_failure({"run", "busybox", "--user=nosuchuser", "--", "/bin/true"},
                       "user 'nosuchuser' is not in the image's /etc/passwd");
  expect_clean_failure({"run", "busybox", "--group=nosuchgroup", "--", "/bin/true"},
                       "group 'nosuchgroup' is not in the image's /etc/group");
}

// A user (or group) whose line in the image's file is malformed, which the
// lookup skips as glibc does, is told by that line, not as missing.
TEST_F(BadInputTest, AUserOnAMalformedLineOfTheImagesPasswdIsToldSo) {
  std::filesystem::create_directories(dir_ + "/badpw/bin");
  std::filesystem::create_directories(dir_ + "/badpw/etc");
  std::filesystem::copy_file("/bin/busybox", dir_ + "/badpw/bin/true");
  std::ofstream(dir_ + "/badpw/etc/passwd")
      << "root:x:0:0:root:/root:/bin/sh\n# a comment\n\napp:x:abc:100:app:/home/app:/bin/sh\n";
  std::ofstream(dir_ + "/badpw/etc/group") << "root:x:0:\nstaff:x\n";
  ASSERT_EQ(crt({"image", "import", dir_ + "/badpw", "badpw"}).status, 0);
  expect_clean_failure({"run", "--net=none", "badpw", "--user=app", "--exec=/bin/true"},
                       "app 'badpw': user 'app' is on line 4 of the image's /etc/passwd, which is malformed: its UID "
                       "'abc' is not a number from 0 to 4294967294");
  expect_clean_failure(
      {"run", "--net=none", "badpw", "--group=staff", "--exec=/bin/true"},
      "app 'badpw': group 'staff' is on line 2 of the image's /etc/group, which is malformed: it has 2 "
      "fields, not 3");
}

// Docker takes any variable name without '=' in an image's Env; systemd
// starts the app without one it cannot take (a dot in it, say): the image
// and the variable are named, not an assignment the user never wrote.
TEST_F(BadInputTest, AnImageVariableSystemdCannotPassIsNamedWithTheImage) {
  OciLayout layout(dir_ + "/layout");
  nlohmann::json image = layout.add_image({make_layer({file("bin/true", read_file("/bin/busybox"), 0755)})},
                                          {{"Env", {"PATH=/bin", "my.var=1"}}, {"Cmd", {"/bin/true"}}});
  layout.write_index({{image, "dotted:1"}});
  ASSERT_EQ(crt({"image", "import", layout.dir().string()}).status, 0);
  expect_clean_failure({"run", "--net=none", "dotted:1"},
                       "app 'dotted': image 'dotted:1' sets the environment variable 'my.var' (its Env), which systemd "
                       "cannot give an app (a variable name holds letters, digits and '_'; it would start the app "
                       "without it)");
}

// A working directory that is a file of the image is named as what gave it.
TEST_F(BadInputTest, AWorkingDirectoryThatIsAFileIsNamedAsTheImagesWorkingDir) {
  std::filesystem::create_directories(dir_ + "/wd/bin");
  std::filesystem::create_directories(dir_ + "/wd/srv");
  std::filesystem::copy_file("/bin/busybox", dir_ + "/wd/bin/true");
  std::ofstream(dir_ + "/wd/srv/app") << "a file\n";
  ASSERT_EQ(crt({"image", "import", dir_ + "/wd", "wd", "--workdir=/srv/app", "--cmd=/bin/true"}).status, 0);
  expect_clean_failure({"run", "--net=none", "wd"},
                       "app 'wd': the WorkingDir '/srv/app' of image 'wd:latest': '/srv/app' exists and is not a "
                       "directory");
  expect_clean_failure({"run", "--net=none", "wd", "--working-dir=/srv/app/sub"},
                       "app 'wd': --working-dir '/srv/app/sub': '/srv/app' exists and is not a directory");
}

// systemd refuses 65535 (the 16-bit -1) as a user or group: crt says so
// before anything starts.
TEST_F(BadInputTest, IdsSystemdRefuses) {
  expect_clean_failure({"run", "busybox", "--user=65535", "--", "/bin/true"}, "user ID 65535 cannot run an app");
  expect_clean_failure({"run", "busybox", "--group=65535", "--", "/bin/true"}, "group ID 65535 cannot run an app");
  expect_clean_failure({"run", "busybox", "--supplementary-gids=4,65535", "--", "/bin/true"},
                       "supplementary group ID 65535 cannot run an app");
}

TEST_F(BadInputTest, AnImageFileThatCannotBeReadIsNamed) {
  std::filesystem::create_directories(dir_ + "/rootfs/bin");
  std::filesystem::create_directories(dir_ + "/rootfs/etc/group");
  std::filesystem::copy_file("/bin/busybox", dir_ + "/rootfs/bin/busybox");
  ASSERT_EQ(crt({"image", "import", dir_ + "/rootfs", "odd"}).status, 0);
  expect_clean_failure({"run", "odd", "--exec=/bin/busybox", "--", "true"},
                       "app 'odd': '/etc/group' in the rootfs is not a regular file");
}

// Should an app's unit still be one the pod's systemd refuses to load, the
// pod ends at once with systemd's reason, rather than wait for an app that
// never starts. (A hand-edited manifest stands in for such a unit.)
TEST_F(BadInputTest, AnAppUnitSystemdRefusesEndsThePodWithItsReason) {
  Result r = crt({"prepare", "--net=none", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  std::string manifest_path = dir_ + "/pods/prepared/" + uuid + "/pod.json";
  auto manifest = crt::json_text::parse(read_file(manifest_path));
  manifest["apps"][0]["uid"] = 65535;
  std::ofstream(manifest_path) << manifest.dump(2) << "\n";
  r = crt({"run-prepared", uuid});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 254) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the pod ended before any app ran"));
  EXPECT_THAT(r.err, HasSubstr("Unit busybox.service has a bad unit file setting"));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("state=exited\n"));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

TEST_F(BadInputTest, UnknownSyscallOrCapability) {
  expect_clean_failure({"run", "busybox", "--seccomp=mode=retain,@system-service,nosuchcall", "--", "/bin/true"},
                       "unknown system call 'nosuchcall'");
  expect_clean_failure({"run", "busybox", "--seccomp=mode=retain,@nosuchgroup", "--", "/bin/true"},
                       "unknown system call group '@nosuchgroup'");
  expect_clean_failure({"run", "busybox", "--caps-retain=CAP_NOPE", "--", "/bin/true"}, "unknown capability 'CAP_NOPE'");
}

TEST_F(BadInputTest, PodAndHostNamesThatNspawnWouldRefuse) {
  expect_clean_failure({"run", "--pod-name=a_b", "busybox", "--", "/bin/true"}, "invalid pod name 'a_b'");
  expect_clean_failure({"run", "--pod-name=a.-b", "busybox", "--", "/bin/true"}, "invalid pod name 'a.-b'");
  expect_clean_failure({"run", "--pod-name=db", "busybox", "--", "/bin/true"},
                       "invalid pod name 'db': a name of only hex digits and '-' would read as a pod's UUID");
  expect_clean_failure({"run", "--hostname=a..b", "busybox", "--", "/bin/true"}, "invalid host name 'a..b'");
  expect_clean_failure({"prepare", "--hostname=web-", "busybox", "--", "/bin/true"}, "invalid host name 'web-'");
  Result r = crt({"run", "--net=none", "--pod-name=web-1.example", "busybox", "--", "/bin/hostname"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "web-1.example\n");
}

TEST_F(BadInputTest, AUuidFileThatCannotBeWrittenLeavesNoPod) {
  for (const char* verb : {"run", "prepare"})
    expect_clean_failure({verb, "--uuid-file-save=/nonexistent/dir/uuid", "busybox", "--", "/bin/true"},
                         "--uuid-file-save: creating a temporary file for '/nonexistent/dir/uuid'");
}

// --uuid-file-save=/dev/null (or a FIFO, or a link) would otherwise be
// replaced by a file holding the UUID.
TEST_F(BadInputTest, AUuidFileThatIsNoRegularFileIsLeftAsItIs) {
  const std::string dev = dir_ + "/full", fifo = dir_ + "/fifo", link = dir_ + "/link";
  ASSERT_EQ(::mknod(dev.c_str(), S_IFCHR | 0666, ::makedev(1, 7)), 0);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::filesystem::create_symlink(dev, link);
  for (const char* verb : {"run", "prepare"}) {
    expect_clean_failure({verb, "--uuid-file-save=" + dev, "busybox", "--", "/bin/true"},
                         "--uuid-file-save: '" + dev + "' is a character device: crt replaces only a regular file");
    expect_clean_failure({verb, "--uuid-file-save=" + fifo, "busybox", "--", "/bin/true"}, "is a FIFO");
    expect_clean_failure({verb, "--uuid-file-save=" + link, "busybox", "--", "/bin/true"}, "is a symbolic link");
  }
  EXPECT_EQ(std::filesystem::status(dev).type(), std::filesystem::file_type::character);
  EXPECT_EQ(std::filesystem::status(fifo).type(), std::filesystem::file_type::fifo);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
}

TEST_F(BadInputTest, AUuidFileThatCannotBeReadIsNamed) {
  std::string missing = dir_ + "/no-such-uuid-file";
  for (const char* cmd : {"stop", "status", "logs", "enter", "rm"}) {
    Result r = crt({cmd, "--uuid-file=" + missing});
    EXPECT_EQ(r.status, 254) << cmd;
    EXPECT_EQ(r.err,
              "crt: reading the pod's UUID from --uuid-file: opening '" + missing + "': No such file or directory\n")
        << cmd;
  }
  std::string empty = dir_ + "/empty-uuid-file";
  std::ofstream(empty) << "\n";
  Result r = crt({"stop", "--uuid-file=" + empty});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: '" + empty + "' holds no UUID\n");
  // Read no further than a UUID's line: not /dev/zero for ever.
  r = crt({"status", "--uuid-file=/dev/zero"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: '/dev/zero' holds no UUID: it is longer than a line of one\n");
  std::string two = dir_ + "/two-lines";
  std::ofstream(two) << "a\nb\n";
  EXPECT_EQ(crt({"status", "--uuid-file=" + two}).err, "crt: '" + two + "' holds no UUID: it has more than one line\n");
}

// POD may be a UUID's prefix or a name; a UUID file only a whole UUID: one
// cut short (its script killed as it wrote it) must not pick another pod.
TEST_F(BadInputTest, AUuidFileHoldsAWholeUuid) {
  std::string saved = dir_ + "/uuid";
  ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + saved, "busybox", "--", "/bin/true"}).status, 0);
  std::string uuid = read_file(saved);
  uuid.resize(36);
  std::string cut = dir_ + "/cut";
  std::ofstream(cut) << uuid.substr(0, 8) << "\n";
  Result r = crt({"status", "--uuid-file=" + cut});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: '" + cut + "' holds no UUID: '" + uuid.substr(0, 8) +
                       "' is not a whole one (as --uuid-file-save writes it)\n");
  std::string upper = dir_ + "/upper";
  std::string shouted = uuid;
  for (char& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::ofstream(upper) << shouted << "\n";
  r = crt({"status", "--uuid-file=" + upper});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt({"rm", "--uuid-file=" + saved}).status, 0);
}

TEST_F(BadInputTest, AHostVolumeWithoutItsSource) {
  expect_clean_failure(
      {"run", "--volume=v,kind=host,source=/nonexistent", "busybox", "--mount=volume=v,target=/v", "--", "/bin/true"},
      "crt: preparing the pod: volume 'v': source '/nonexistent': No such file or directory\n");
}

TEST_F(BadInputTest, AConfigFileAskedForMustExist) {
  expect_clean_failure({"--config=/nonexistent/crt.conf", "run", "no/such-image", "--", "/bin/true"},
                       "crt: --config: no file '/nonexistent/crt.conf'\n");
}

TEST_F(BadInputTest, RegistryFilesAskedForMustExist) {
  expect_clean_failure({"run", "--authfile=/nonexistent/auth.json", "busybox", "--", "/bin/true"},
                       "crt: --authfile: no file '/nonexistent/auth.json'\n");
  expect_clean_failure({"image", "pull", "--ca-file", "/nonexistent/ca.pem", "example.com/x"},
                       "crt: --ca-file: no file '/nonexistent/ca.pem'\n");
}

// overlayfs keeps no upper layer on an overlay: a state directory there
// (a container's root, say) gets the kernel's reason, which mount(2) puts
// only in the kernel's log, and what to do, and leaves no pod behind.
TEST_F(BadInputTest, AStateDirectoryOnAnOverlayIsAClearError) {
  std::string o = dir_ + "/o";
  for (const char* d : {"/lower", "/upper", "/work", "/merged"}) std::filesystem::create_directories(o + d);
  // In a mount namespace of its own: no other process sees the overlay.
  std::string crt = crt_bin_ + " --dir=" + o + "/merged/state ";
  std::string script = "mount -t overlay overlay -o lowerdir=" + o + "/lower,upperdir=" + o + "/upper,workdir=" + o +
                       "/work " + o + "/merged || exit 100\n" + crt + "run --net=none busybox -- /bin/true 2>" + o +
                       "/err; echo $? >" + o + "/rc\nfind " + o + "/merged/state/pods -mindepth 2 >" + o + "/left\n";
  Result r = run({"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(o + "/rc"), "254\n");
  std::string err = read_file(o + "/err");
  // The kernel's own words come through the new mount API's lowerdir+
  // (Linux 6.8); before it, crt's hint alone.
  struct utsname u {};
  int major = 0, minor = 0;
  if (::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
      (major > 6 || (major == 6 && minor >= 8))) {
    EXPECT_THAT(err, HasSubstr("not supported as upperdir: Invalid argument"));
  }
  EXPECT_THAT(err, HasSubstr("crt's state directory, --dir, is on an overlay"));
  EXPECT_EQ(read_file(o + "/left"), "") << "no pod is left";
}

// crt-generator reads only NAME.pod: a file checked under another name is
// valid, but would make no unit at boot, and validate says so.
TEST_F(BadInputTest, PodFileValidateSaysWhenTheGeneratorWouldPassAFileOver) {
  for (const char* name : {"/web.pod", "/web.pod.txt"}) std::ofstream(dir_ + name) << "[App web]\nImage=busybox\n";
  Result r = crt({"pod-file", "validate", dir_ + "/web.pod", dir_ + "/web.pod.txt"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: warning: '" + dir_ +
                       "/web.pod.txt': crt-generator reads only files named NAME.pod (NAME not starting with '.'): "
                       "under this name the file makes no unit\n");
}

TEST_F(BadInputTest, TwoAppsWithTheSameName) {
  expect_clean_failure({"run", "busybox", "--", "/bin/true", "---", "busybox", "--", "/bin/true"},
                       "two apps are named 'busybox'");
}

TEST_F(BadInputTest, InvalidAppName) {
  expect_clean_failure({"run", "busybox", "--name=Bad_Name", "--", "/bin/true"}, "invalid app name 'Bad_Name'");
}

TEST_F(BadInputTest, UnknownOptionsAndMisplacedArguments) {
  expect_clean_failure({"run", "--no-such-flag", "busybox"}, "--no-such-flag");
  expect_clean_failure({"run", "busybox", "stray"}, "arguments for the app go after '--'");
  expect_clean_failure({"run", "busybox", "--hostname=x"}, "pod options go before the first image");
  expect_clean_failure({"run", "--interactive", "busybox", "---", "busybox", "--name=b"}, "--interactive needs exactly one app");
}

TEST_F(BadInputTest, AnOptionWithAnEmptyValueDoesNotTakeTheNextWord) {
  // As after '--pod-name=$UNSET'.
  expect_clean_failure({"run", "--pod-name=", "busybox", "busybox", "--", "/bin/true"},
                       "option '--pod-name' needs a value (see 'crt run --help')");
  expect_clean_failure({"run", "busybox", "--", "/bin/true", "---", "busybox", "--name=", "--", "/bin/true"},
                       "option '--name' needs a value");
  expect_clean_failure({"--dir=", "list"}, "option '--dir' needs a value (see 'crt --help')");
  // As after '--pod-name "$UNSET"': an empty word is no value either.
  expect_clean_failure({"run", "--pod-name", "", "busybox", "--", "/bin/true"},
                       "option '--pod-name' needs a value (see 'crt run --help')");
  expect_clean_failure({"prepare", "busybox", "--working-dir", "", "--", "/bin/true"},
                       "option '--working-dir' needs a value (see 'crt prepare --help')");
  expect_clean_failure({"run", "--net=none", "--user", "", "busybox"}, "option '--user' needs a value");
  Result r = crt({"stop", "--timeout=", "web"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: option '--timeout' needs a value (see 'crt stop --help')\n");
  // An option given twice is said as such.
  r = crt({"stop", "--timeout=1", "--timeout=2", "web"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: option '--timeout' is given more than once (see 'crt stop --help')\n");
  expect_clean_failure({"run", "--memory=1M", "--memory=2M", "busybox", "--", "/bin/true"},
                       "option '--memory' is given more than once (see 'crt run --help')");
  // The app's own arguments are the app's.
  r = crt({"run", "--net=none", "busybox", "--", "/bin/echo", "--name=", "--timeout="});
  EXPECT_EQ(r.out, "--name= --timeout=\n") << r.err;
  EXPECT_EQ(r.status, 0);
}

TEST_F(BadInputTest, CommandLineErrorsAreOneLineAndSayWhichHelpToRead) {
  auto err = [&](std::vector<std::string> args) {
    Result r = crt(args);
    EXPECT_EQ(r.status, 254);
    return r.err;
  };
  EXPECT_EQ(err({"bogusverb"}), "crt: unknown command 'bogusverb' (see 'crt --help')\n");
  EXPECT_EQ(err({"image", "bogus"}), "crt: unknown command 'image bogus' (see 'crt image --help')\n");
  EXPECT_EQ(err({"image"}), "crt: a command is needed (see 'crt image --help')\n");
  EXPECT_EQ(err({"list", "--bogus"}), "crt: unknown option '--bogus' (see 'crt list --help')\n");
  EXPECT_EQ(err({"image", "list", "a", "b"}), "crt: unexpected arguments 'a' 'b' (see 'crt image list --help')\n");
  // Named after the command the word was given to, not the one after it.
  EXPECT_EQ(err({"--bogus", "list"}), "crt: unknown option '--bogus' (see 'crt --help')\n");
  EXPECT_EQ(err({"run", "--bogus", "busybox"}), "crt: unknown option '--bogus' (see 'crt run --help')\n");
  EXPECT_EQ(err({"help", "image", "bogus"}), "crt: unknown command 'image bogus' (see 'crt image --help')\n");
  // A value with a newline in it is said on one line too.
  EXPECT_EQ(err({"run", "busybox", "--set-env=A=1\nB=2"}),
            "crt: unknown option '--set-env=A=1\\nB=2' for image 'busybox' (pod options go before the first image)\n");
  // A --dir that is a file would read as a state without pods.
  std::string file = dir_ + "/a-file";
  std::ofstream(file) << "x";
  Result r = run({crt_bin_, "--dir=" + file, "list"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: --dir: '" + file + "' is not a directory (see 'crt --help')\n");
  // A path left out, the next option is not taken for it (crt would make
  // a state directory named --debug where it was started).
  r = run({crt_bin_, "--dir", "--debug", "list"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err,
            "crt: --dir: '--debug' looks like an option, not a path (write ./--debug for a path that begins with '-') "
            "(see 'crt --help')\n");
  EXPECT_FALSE(std::filesystem::exists("--debug"));
}

// crt --dir=X status …, not crt status --dir=X …: said as such, where
// CLI11 parses the command and where crt does (run, enter).
TEST_F(BadInputTest, CrtsOwnOptionsAfterACommandSayWhereTheyGo) {
  auto err = [&](std::vector<std::string> args) {
    Result r = crt(args);
    EXPECT_EQ(r.status, 254);
    return r.err;
  };
  EXPECT_EQ(err({"status", "--dir", "/tmp/x", "web"}),
            "crt: --dir is an option of crt itself: put it before the command (crt --dir=/tmp/x status …)\n");
  EXPECT_EQ(
      err({"image", "list", "--config=/x.conf"}),
      "crt: --config is an option of crt itself: put it before the command (crt --config=/x.conf image list …)\n");
  EXPECT_EQ(err({"list", "--debug"}),
            "crt: --debug is an option of crt itself: put it before the command (crt --debug list …)\n");
  EXPECT_EQ(err({"run", "--dir=/tmp/x", "busybox"}),
            "crt: --dir is an option of crt itself: put it before the command (crt --dir=/tmp/x run …)\n");
  EXPECT_EQ(err({"enter", "--local-config", "/x", "web"}),
            "crt: --local-config is an option of crt itself: put it before the command (crt --local-config=/x enter "
            "…)\n");
  // Each option crt --help lists: the hint's own list of them is kept apart
  // from the command line's.
  std::istringstream help(crt({"--help"}).out);
  int options = 0;
  bool in_options = false;
  for (std::string line; std::getline(help, line);) {
    if (line == "Options:" || line.empty()) in_options = line == "Options:";
    std::smatch m;
    if (!in_options || !std::regex_search(line, m, std::regex("^  (?:-[a-z],)?(--[a-z-]+)( [A-Z]+)?")) ||
        m[1] == "--help")
      continue;
    ++options;
    std::string option = m[1].str() + (m[2].matched ? "=/x" : "");
    EXPECT_THAT(err({"list", option}), HasSubstr(m[1].str() + " is an option of crt itself")) << line;
  }
  EXPECT_GE(options, 5) << "crt --help listed none";
}

// Everything after POD is the command: a word before it that crt enter
// does not know is an option it does not take, not a pod.
TEST_F(BadInputTest, EnterTakesItsOptionsBeforeThePod) {
  for (const char* cmd : {"enter", "exec"}) {
    Result r = crt({cmd, "--frob", "web"});
    EXPECT_EQ(r.status, 254);
    EXPECT_EQ(r.err, "crt: unknown option '--frob' (see 'crt " + std::string(cmd) + " --help')\n");
  }
}

TEST_F(BadInputTest, MoreCommandLineErrorsSayWhatIsWrong) {
  // An empty word as the value of crt's own options, as of '--dir=':
  // '--dir "$UNSET"'.
  for (const char* option : {"--dir", "--config", "--local-config"}) {
    Result r = run({crt_bin_, option, "", "list"});
    EXPECT_EQ(r.status, 254);
    EXPECT_EQ(r.err, "crt: option '" + std::string(option) + "' needs a value (see 'crt --help')\n");
  }
  // A wrong duration is said before the pod is looked for.
  Result r = crt({"status", "--wait=abc", "nosuch"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: --wait: invalid duration 'abc': expected e.g. 30s, 5m, 2h, 1h30m or seconds\n");
  expect_clean_failure({"run", "--", "echo", "hi"}, "crt: missing image name before '--' (see 'crt run --help')\n");
  expect_clean_failure({"run", "--memory", "busybox"},
                       "crt: missing image name: --memory took 'busybox' as its value (see 'crt run --help')\n");
  expect_clean_failure({"image", "pull", "UPPER/Case"}, "crt: invalid image reference 'UPPER/Case': ");
  // --format: text and table are the same.
  Result table = crt({"list"});
  EXPECT_EQ(table.status, 0);
  EXPECT_EQ(crt({"list", "--format=text"}).out, table.out);
}

TEST_F(BadInputTest, HelpComesTheSameWayEachWayItIsAskedFor) {
  Result run_help = crt({"run", "--help"});
  EXPECT_EQ(run_help.status, 0);
  EXPECT_THAT(run_help.out, HasSubstr("--- IMAGE"));
  for (std::vector<std::string> ask : {std::vector<std::string>{"help", "run"}, {"--help", "run"}, {"-h", "run"}}) {
    Result r = crt(ask);
    EXPECT_EQ(r.status, 0) << ask[0];
    EXPECT_EQ(r.out, run_help.out) << ask[0];
  }
  Result list_help = crt({"image", "list", "--help"});
  EXPECT_EQ(crt({"help", "image", "list"}).out, list_help.out);
  EXPECT_EQ(crt({"help"}).out, crt({"--help"}).out);
  // The usage lines name what the commands take verbatim.
  EXPECT_THAT(crt({"help", "--help"}).out, HasSubstr("Usage: crt help [OPTIONS] [COMMAND...]\n"));
  EXPECT_THAT(crt({"help", "exec"}).out, HasSubstr("Usage: crt exec [OPTIONS] POD [--] [CMD [ARG...]]\n"));
  // Without a value, --wait waits without limit: no default to show.
  EXPECT_THAT(crt({"status", "--help"}).out, HasSubstr("--wait [DURATION]"));
}

TEST_F(BadInputTest, OutputThatCannotBeWrittenIsSaid) {
  auto to_full = [&](const std::string& args) {
    return run({"/bin/sh", "-c", "exec " + crt_bin_ + " --dir=" + dir_ + " " + args + " >/dev/full"});
  };
  ASSERT_EQ(crt({"prepare", "busybox"}).status, 0);
  Result r = to_full("list");
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: writing to standard output: No space left on device\n");
  // An app's output: crt run's status stays the app's, and it says where
  // the output is.
  r = to_full("run --net=none busybox -- /bin/echo hello");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("warning: some of the apps' output was not written to standard output (No space "
                               "left on device); the pod's journal has it: crt logs"));
  // A closed stdout is said so too (crt used to write to /dev/null in its
  // place, and say nothing); the pod runs all the same.
  auto to_closed = [&](const std::string& args) {
    return run({"/bin/sh", "-c", "exec " + crt_bin_ + " --dir=" + dir_ + " " + args + " >&-"});
  };
  r = to_closed("list");
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: writing to standard output: it is closed, or not open for writing\n");
  r = to_closed("run --net=none --uuid-file-save=" + dir_ + "/uuid busybox -- /bin/echo hello");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("warning: some of the apps' output was not written to standard output (it is closed, "
                               "or not open for writing); the pod's journal has it: crt logs"));
  EXPECT_EQ(crt({"logs", "--uuid-file=" + dir_ + "/uuid"}).out, "hello\n");
}

// crt started with its stderr closed (2>&-, as by a careless unit or
// script) says what it would have said there to the host's journal, as
// crt's: its warnings as warnings, its error as an error. Here the journal
// is a socket of the test's in journald's place, in a mount namespace of
// crt's own. Without a journal, the words are lost, and nothing else
// changes.
TEST_F(BadInputTest, WithItsStderrClosedCrtSpeaksToTheJournal) {
  std::string journal = dir_ + "/journal";
  std::filesystem::create_directory(journal);
  std::string socket_path = journal + "/socket";
  ASSERT_LT(socket_path.size(), sizeof(sockaddr_un::sun_path));
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.valid());
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  auto received = [&] {
    std::vector<std::string> out;
    char buf[65536];
    for (ssize_t n; (n = ::recv(sock.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      out.emplace_back(buf, static_cast<size_t>(n));
    return out;
  };
  // /run a tmpfs of the namespace's own, where journald's socket would be.
  auto crt_without_stderr = [&](const std::string& args, bool with_journal) {
    std::string bind = with_journal ? " && mount --bind " + journal + " /run/systemd/journal" : "";
    return run({"unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                "mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/systemd/journal" + bind + " && exec " +
                    crt_bin_ + " --dir=" + dir_ + " " + args + " 2>&-"});
  };
  Result r = crt({"prepare", "--quiet", "busybox"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  { std::ofstream(dir_ + "/pods/prepared/" + uuid + "/pod.json") << "{cut short"; }
  for (bool with_journal : {true, false}) {
    SCOPED_TRACE(with_journal ? "with a journal" : "without");
    r = crt_without_stderr("status " + uuid, with_journal);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("state=prepared\n"));
    EXPECT_EQ(r.err, "");
    r = crt_without_stderr("status nosuch", with_journal);
    EXPECT_EQ(r.status, 254);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
  }
  std::vector<std::string> lines = received();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("MESSAGE=warning: pod " + uuid + ": reading its manifest: "));
  EXPECT_THAT(lines[0], HasSubstr("\nPRIORITY=4\n"));
  EXPECT_THAT(lines[0], HasSubstr("\nSYSLOG_IDENTIFIER=crt\n"));
  EXPECT_THAT(lines[1], HasSubstr("MESSAGE=no pod 'nosuch'\n"));
  EXPECT_THAT(lines[1], HasSubstr("\nPRIORITY=3\n"));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// A --dir that is not there (a typo) is said by the commands that only
// read what one holds, rather than shown as a state without pods; they make
// nothing there. A directory that is there but empty has no pods, and gc
// of one that is not there has nothing to do.
TEST_F(BadInputTest, AStateDirectoryThatIsNotThereIsSaid) {
  const std::string typo = dir_ + "/typo";
  for (std::vector<std::string> args : {std::vector<std::string>{"list"},
                                        {"status", "0123abcd"},
                                        {"logs", "0123abcd"},
                                        {"rm", "0123abcd"},
                                        {"image", "list"},
                                        {"image", "inspect", "busybox"}}) {
    args.insert(args.begin(), {crt_bin_, "--dir=" + typo});
    Result r = run(args);
    EXPECT_EQ(r.status, 254) << args[2];
    EXPECT_EQ(r.err, "crt: no state directory at '" + typo + "' (nothing was ever run with --dir=" + typo + ")\n")
        << args[2];
    EXPECT_EQ(r.out, "") << args[2];
    EXPECT_FALSE(std::filesystem::exists(typo)) << args[2];
  }
  Result r = run({crt_bin_, "--dir=" + typo, "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::filesystem::remove_all(typo);
  std::filesystem::create_directory(typo, dir_);
  r = run({crt_bin_, "--dir=" + typo, "list", "--no-legend"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out + r.err, "");
}

TEST_F(BadInputTest, NonRootGetsOneLineError) {
  Result r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", crt_bin_, "--dir=" + dir_, "run",
                  "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: 'crt run' needs root privileges (run it as root or with sudo)\n");
  // Pod directories are root's alone: the commands that read them say so,
  // rather than list nothing or find no pod.
  for (const char* cmd : {"list", "status", "logs", "cat-manifest"}) {
    std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", crt_bin_,
                                     "--dir=" + dir_, cmd};
    if (std::string(cmd) != "list") argv.push_back("0123abcd");
    r = run(argv);
    EXPECT_EQ(r.status, 254) << cmd;
    EXPECT_EQ(r.err, "crt: 'crt " + std::string(cmd) + "' needs root privileges (run it as root or with sudo)\n");
  }
  // So is the image store.
  for (const char* cmd : {"list", "inspect", "export"}) {
    std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     crt_bin_,  "--dir=" + dir_, "image",         cmd};
    if (std::string(cmd) != "list") argv.push_back("busybox");
    if (std::string(cmd) == "export") argv.push_back("/tmp/busybox.tar");
    r = run(argv);
    EXPECT_EQ(r.status, 254) << cmd;
    EXPECT_EQ(r.err, "crt: 'crt image " + std::string(cmd) + "' needs root privileges (run it as root or with sudo)\n");
  }
}

}  // namespace
}  // namespace crt::test
