// An installed crt finds its stage1 and built-in images relative to its own
// prefix; --stage1-path overrides.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/duration.hpp"
#include "common/fd.hpp"
#include "net/pod_network.hpp"
#include "pod/manifest.hpp"
#include "pod/units.hpp"
#include "pod_fixture.hpp"
#include "runtime/images.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class InstallTest : public PodTest {};

TEST_F(InstallTest, InstalledCrtRunsPodsFromItsPrefix) {
  std::string dest = dir_ + "/dest";
  Result r = run({CMAKE_COMMAND, "--install", BUILD_DIR, "--prefix", "/opt/crt-test"}, {.env = {"DESTDIR=" + dest}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = false});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::string prefix = dest + "/opt/crt-test";
  for (const char* f : {"bin/crt", "lib/crt/prepare-app", "lib/crt/app-exited", "lib/crt/stage1.tar",
                        "lib/crt/stage1.tar.sha256", "lib/crt/pod-seccomp.bpf", "lib/crt/images/busybox.tar",
                        "lib/crt/images/busybox.json", "lib/systemd/system/crt@.service",
                        "lib/systemd/system/crt-gc.service", "lib/systemd/system/crt-gc.timer",
                        "lib/systemd/system-generators/crt-generator", "share/man/man1/crt.1",
                        "share/man/man5/crt.pod.5"})
    EXPECT_TRUE(std::filesystem::exists(prefix + "/" + f)) << f;
  // crt@.service carries the device policy crt gives the other units a pod runs in.
  std::string unit = read_file(prefix + "/lib/systemd/system/crt@.service");
  EXPECT_THAT(unit, HasSubstr("\nDevicePolicy=closed\n"));
  for (const auto& [device, access] : pod::host_unit_devices(true))
    EXPECT_THAT(unit, HasSubstr("\nDeviceAllow=" + device + " " + access + "\n"));
  // A stop of a unit gives crt run its stop timeout and then the pod's
  // network teardown, where one plugin may take its time limit before crt
  // kills it (and up to 6 s to end): systemd must not kill crt first. So
  // must a pod file's unit, and a stop that comes in the teardown.
  auto stop_time = [](const std::string& text) {
    size_t at = text.find("\nTimeoutStopSec=");
    EXPECT_NE(at, std::string::npos) << text;
    if (at == std::string::npos) return std::chrono::milliseconds(0);
    return parse_duration(text.substr(at + 16, text.find('\n', at + 1) - at - 16));
  };
  auto needed = pod::kDefaultStopTimeout + net::kPluginTimeLimit + std::chrono::seconds(6);
  EXPECT_GE(stop_time(unit), needed);
  // The host's units run the crt of the prefix given at install time,
  // whichever the build was configured with (DESTDIR only stages them).
  for (const char* u : {"crt@.service", "crt-gc.service"})
    EXPECT_THAT(read_file(prefix + "/lib/systemd/system/" + u), HasSubstr("\nExecStart=/opt/crt-test/bin/crt ")) << u;
  r = run({prefix + "/bin/crt", "--dir=" + dir_ + "/state", "run", "busybox", "--", "/bin/echo", "installed"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "installed\n");
  // The units crt-generator and pod-file validate render run this crt,
  // whichever prefix the build was configured with.
  std::ofstream(dir_ + "/web.pod") << "[App web]\nImage=busybox\n";
  r = run({prefix + "/lib/systemd/system-generators/crt-generator", "--dry-run", dir_ + "/web.pod"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ExecStart=@\"" + prefix + "/bin/crt\" \"crt\" \"run\""));
  EXPECT_GE(stop_time(r.out), needed);
  r = run({prefix + "/bin/crt", "pod-file", "validate", "--show-unit", dir_ + "/web.pod"});
  EXPECT_THAT(r.out, HasSubstr("ExecStart=@\"" + prefix + "/bin/crt\" \"crt\" \"run\""));
}

// At boot crt-generator's messages go to the kernel log, which refuses a
// record of more than about 1 KiB whole: a long message is cut, not lost.
TEST_F(InstallTest, TheGeneratorsLongMessageReachesTheKernelLogCut) {
  UniqueFd kmsg(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!kmsg.valid()) GTEST_SKIP() << "no /dev/kmsg here (a container): the generator logs to the journal";
  ASSERT_GE(::lseek(kmsg.get(), 0, SEEK_END), 0);
  std::string pods = dir_ + "/root/etc/crt/pods";
  std::filesystem::create_directories(pods);
  std::ofstream(pods + "/long.pod") << "[Pod]\nExitPolicy=" << std::string(1200, 'x') << "\n[App a]\nImage=busybox\n";
  std::ofstream(pods + "/short.pod") << "[App b]\nImage=busybox\nColour=red\n";
  Result r = run({CRT_GENERATOR_BIN, dir_ + "/out"},
                 {.env = {"CRT_GENERATOR_ROOT=" + dir_ + "/root"}, .timeout = std::chrono::seconds(30), .input = {}});
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<std::string> records;
  char buf[8192];
  for (ssize_t n; (n = ::read(kmsg.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EPIPE);)
    if (n > 0) records.emplace_back(buf, static_cast<size_t>(n));
  std::string cut, whole;
  for (const auto& rec : records) {
    if (rec.find("crt-generator[") == std::string::npos) continue;
    if (rec.find(pods + "/long.pod:2: ExitPolicy: 'xxx") != std::string::npos) cut = rec;
    if (rec.find(pods + "/short.pod:3: Colour: unknown key") != std::string::npos) whole = rec;
  }
  EXPECT_THAT(cut, HasSubstr("(cut: 'crt pod-file validate FILE' shows it whole)\n"));
  EXPECT_LE(cut.size(), 1100u);
  EXPECT_FALSE(whole.empty()) << records.size() << " records";
  EXPECT_THAT(r.err, Not(HasSubstr("crt-generator:"))) << "all went to the kernel log";
  // And a unit that says why in the stead of each file.
  EXPECT_THAT(read_file(dir_ + "/out/crt-short.service"), HasSubstr("pod file refused: " + pods + "/short.pod:3"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/out/crt-long.service"));
}

// Stage1 is minimal: no shell, no generators, and only the units a pod
// needs (the apps' units are written into each pod).
TEST_F(InstallTest, Stage1HasNoShellNoGeneratorsAndOnlyItsOwnUnits) {
  Result r = run({"tar", "tf", (runtime::data_dir_of(crt_bin_) / "stage1.tar").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> units;
  std::istringstream files(r.out);
  for (std::string f; std::getline(files, f);) {
    std::string name = f.substr(f.rfind('/', f.size() - 2) + 1);
    for (const char* shell : {"sh", "bash", "dash", "busybox"}) EXPECT_NE(name, shell) << f;
    EXPECT_EQ(f.find("generator"), std::string::npos) << f;
    EXPECT_EQ(f.find("getty"), std::string::npos) << f;
    if (f.rfind("./usr/lib/systemd/system/", 0) == 0 && f.back() != '/') units.push_back(name);
  }
  std::sort(units.begin(), units.end());
  EXPECT_EQ(units, (std::vector<std::string>{"ctrl-alt-del.target", "exit.target", "halt.target", "poweroff.target",
                                             "shutdown.target", "system.slice", "systemd-exit.service",
                                             "systemd-journald-dev-log.socket", "systemd-journald.service",
                                             "systemd-journald.socket", "systemd-poweroff.service"}));
}

TEST_F(InstallTest, Stage1PathOverridesAndIsChecked) {
  std::string tar = runtime::data_dir_of(crt_bin_) / "stage1.tar";
  std::filesystem::copy_file(tar, dir_ + "/my-stage1.tar");
  Result r = crt({"run", "--stage1-path=" + dir_ + "/my-stage1.tar", "busybox", "--", "/bin/echo", "own stage1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "own stage1\n");
  r = crt({"run", "--stage1-path=" + dir_ + "/nope.tar", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("nope.tar' does not exist\n"));  // no hint to use the option used
  // A rootfs that is no stage1 is refused before it is stored or booted.
  std::string busybox = runtime::data_dir_of(crt_bin_) / "images" / "busybox.tar";
  std::filesystem::create_directories(dir_ + "/not-stage1");
  for (const std::string& path : {busybox, dir_ + "/not-stage1"}) {
    r = crt({"run", "--stage1-path=" + path, "busybox", "--", "/bin/true"});
    EXPECT_EQ(r.status, 254);
    EXPECT_EQ(r.err,
              "crt: loading the stage1 image: '" + path + "' is no crt stage1: it has no /usr/lib/crt/prepare-app\n");
  }
  EXPECT_EQ(crt({"image", "list"}).out.find("crt-stage1 "), crt({"image", "list"}).out.rfind("crt-stage1 "))
      << "only the stage1 of the first run is stored";
  EXPECT_EQ(pods("run").size(), 1u) << "the first run's pod alone";
  EXPECT_TRUE(pods("prepare").empty());
}

// Each crt build stores its stage1 as crt-stage1:HASH on first use: image gc
// takes those of other builds once no pod uses them, never this build's.
TEST_F(InstallTest, ImageGcRemovesTheStage1OfAnotherBuildOnceNoPodUsesIt) {
  std::string other = dir_ + "/other-stage1.tar";
  std::filesystem::copy_file(runtime::data_dir_of(crt_bin_) / "stage1.tar", other);
  std::ofstream(dir_ + "/another-build") << "another build\n";
  ASSERT_EQ(run({"tar", "-rf", other, "-C", dir_, "another-build"}).status, 0);
  Result r = crt({"run", "--net=none", "--stage1-path=" + other, "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  auto stage1s = [&] {
    std::string list = crt({"image", "list"}).out;
    size_t n = 0;
    for (size_t at = list.find("\ncrt-stage1 "); at != std::string::npos; at = list.find("\ncrt-stage1 ", at + 1)) ++n;
    return n;
  };
  ASSERT_EQ(stage1s(), 2u);
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("the stage1 of another crt build"))) << "a pod uses it";
  EXPECT_EQ(stage1s(), 2u);
  for (const auto& pod : pods("run")) ASSERT_EQ(crt({"rm", pod}).status, 0);
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("^removed crt-stage1:[0-9a-f]{12}, the stage1 of another crt build\n"));
  EXPECT_EQ(stage1s(), 1u);
  std::string own = read_file((runtime::data_dir_of(crt_bin_) / "stage1.tar.sha256").string()).substr(0, 12);
  EXPECT_THAT(crt({"image", "list"}).out, HasSubstr("\ncrt-stage1  " + own + " ")) << "this build's stays";
  EXPECT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/echo", "still"}).out, "still\n");
}

}  // namespace
}  // namespace crt::test
