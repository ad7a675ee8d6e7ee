#include "runtime/pod_dir.hpp"

#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <fstream>
#include <regex>
#include <set>

#include "common/error.hpp"
#include "common/lock.hpp"
#include "test_support.hpp"

namespace crt::runtime {
namespace {

namespace stdfs = std::filesystem;
using test::Scratch;

const char* const kUuid = "0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f";

TEST(MachineId, UuidWithoutDashes) {
  EXPECT_EQ(machine_id_of(kUuid), "0b6e0c3c7d414b1a9f552f4a4c1d2e3f");
}

TEST(NewUuid, RandomVersion4Format) {
  static const std::regex kFormat("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string u = new_uuid();
    EXPECT_TRUE(std::regex_match(u, kFormat)) << u;
    EXPECT_EQ(machine_id_of(u).size(), 32u);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(StateDirName, EveryState) {
  EXPECT_STREQ(state_dir_name(PodState::kPrepare), "prepare");
  EXPECT_STREQ(state_dir_name(PodState::kPrepared), "prepared");
  EXPECT_STREQ(state_dir_name(PodState::kRun), "run");
  EXPECT_STREQ(state_dir_name(PodState::kExitedGarbage), "exited-garbage");
  EXPECT_STREQ(state_dir_name(PodState::kGarbage), "garbage");
}

TEST(PodDir, CreateMakesTheLayoutAndHoldsTheLock) {
  Scratch s;
  PodDir pod = PodDir::create(s.path(), kUuid);
  EXPECT_EQ(pod.path(), s / "pods" / "prepare" / kUuid);
  EXPECT_EQ(pod.uuid(), kUuid);
  for (const char* state : {"prepare", "prepared", "run", "exited-garbage", "garbage"})
    EXPECT_TRUE(stdfs::is_directory(s / "pods" / state)) << state;
  for (const auto& d : {pod.stage1_rootfs(), pod.stage1_upper(), pod.stage1_work(), pod.status_dir()})
    EXPECT_TRUE(stdfs::is_directory(d)) << d;
  EXPECT_TRUE(pod.lock().valid());
  EXPECT_FALSE(FileLock::try_acquire(pod.path(), FileLock::Mode::kExclusive).valid()) << "another process sees it locked";
}

TEST(PodDir, SameUuidTwiceIsAnError) {
  Scratch s;
  PodDir pod = PodDir::create(s.path(), kUuid);
  EXPECT_THROW(PodDir::create(s.path(), kUuid), Error);
}

// A pod directory that cannot be made whole (no inodes left for its parts)
// is not left half made.
TEST(PodDir, CreateThatFailsLeavesNothing) {
  Scratch s;
  stdfs::path state = s / "state";
  test::Tmpfs small(state, "nr_inodes=64,mode=0755");
  if (!small.valid()) GTEST_SKIP() << "mounting needs root";
  {
    PodDir first = PodDir::create(state, "11111111-7d41-4b1a-9f55-2f4a4c1d2e3f");  // the state folders
    struct statvfs st {};
    ASSERT_EQ(::statvfs(state.c_str(), &st), 0);
    // Room for the pod's directory and one part of it.
    for (unsigned long i = 2; i < st.f_ffree; ++i) std::ofstream(state / ("filler" + std::to_string(i)));
    std::string error;
    try {
      PodDir::create(state, kUuid);
    } catch (const Error& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
    EXPECT_FALSE(stdfs::exists(state / "pods" / "prepare" / kUuid));
  }
}

TEST(PodDir, MoveToKeepsTheLock) {
  Scratch s;
  PodDir pod = PodDir::create(s.path(), kUuid);
  pod.move_to(PodState::kRun);
  EXPECT_EQ(pod.path(), s / "pods" / "run" / kUuid);
  EXPECT_FALSE(stdfs::exists(s / "pods" / "prepare" / kUuid));
  EXPECT_FALSE(FileLock::try_acquire(pod.path(), FileLock::Mode::kExclusive).valid());
  EXPECT_EQ(pod.stage1_rootfs(), s / "pods" / "run" / kUuid / "stage1" / "rootfs");
}

TEST(PodDir, PathsOfItsParts) {
  Scratch s;
  PodDir pod = PodDir::create(s.path(), kUuid);
  const stdfs::path p = pod.path();
  EXPECT_EQ(pod.app_upper("web"), p / "overlay" / "apps" / "web" / "upper");
  EXPECT_EQ(pod.app_work("web"), p / "overlay" / "apps" / "web" / "work");
  EXPECT_EQ(pod.pid_file(), p / "pid");
  EXPECT_EQ(pod.nspawn_log(), p / "nspawn.log");
  EXPECT_EQ(pod.journal_dir(), p / "overlay" / "stage1" / "upper" / "var" / "log" / "journal" /
                                   "0b6e0c3c7d414b1a9f552f4a4c1d2e3f");
}

TEST(PodDir, WriteManifestAndRemove) {
  Scratch s;
  PodDir pod = PodDir::create(s.path(), kUuid);
  pod::PodManifest m;
  m.uuid = kUuid;
  m.hostname = "h";
  pod.write_manifest(m);
  EXPECT_EQ(pod::parse_manifest(test::read_text(pod.path() / "pod.json")).uuid, kUuid);
  pod.remove();
  EXPECT_FALSE(stdfs::exists(pod.path()));
}

}  // namespace
}  // namespace crt::runtime
