// An installed crt finds its stage1 and built-in images relative to its own
// prefix; --stage1-path overrides.

#include <filesystem>
#include <fstream>

#include "pod_fixture.hpp"
#include "runtime/images.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;

class InstallTest : public PodTest {};

TEST_F(InstallTest, InstalledCrtRunsPodsFromItsPrefix) {
  std::string dest = dir_ + "/dest";
  Result r = run({CMAKE_COMMAND, "--install", BUILD_DIR, "--prefix", "/opt/crt-test"}, {.env = {"DESTDIR=" + dest}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = false});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::string prefix = dest + "/opt/crt-test";
  for (const char* f : {"bin/crt", "lib/crt/prepare-app", "lib/crt/app-exited", "lib/crt/stage1.tar",
                        "lib/crt/stage1.tar.sha256", "lib/crt/pod-seccomp.bpf", "lib/crt/images/busybox.tar",
                        "lib/crt/images/busybox.json"})
    EXPECT_TRUE(std::filesystem::exists(prefix + "/" + f)) << f;
  r = run({prefix + "/bin/crt", "--dir=" + dir_ + "/state", "run", "busybox", "--", "/bin/echo", "installed"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "installed\n");
  // The units crt-generator and pod-file validate render run this crt,
  // whichever prefix the build was configured with.
  std::ofstream(dir_ + "/web.pod") << "[App web]\nImage=busybox\n";
  r = run({prefix + "/lib/systemd/system-generators/crt-generator", "--dry-run", dir_ + "/web.pod"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ExecStart=@\"" + prefix + "/bin/crt\" \"crt\" \"run\""));
  r = run({prefix + "/bin/crt", "pod-file", "validate", "--show-unit", dir_ + "/web.pod"});
  EXPECT_THAT(r.out, HasSubstr("ExecStart=@\"" + prefix + "/bin/crt\" \"crt\" \"run\""));
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
}

}  // namespace
}  // namespace crt::test
