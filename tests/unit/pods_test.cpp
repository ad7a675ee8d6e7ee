#include "runtime/pods.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_support.hpp"

namespace crt::runtime {
namespace {

namespace stdfs = std::filesystem;
using test::Scratch;

const std::string kImage = "sha256:" + std::string(64, '1');
const std::string kStage1 = "sha256:" + std::string(64, '2');
const std::string kOther = "sha256:" + std::string(64, '3');

pod::PodManifest manifest_for(const std::string& uuid) {
  pod::PodManifest m;
  m.uuid = uuid;
  m.stage1.id = kStage1;
  pod::AppManifest a;
  a.name = "app";
  a.image.id = kImage;
  m.apps = {a};
  return m;
}

const PodEntry* entry(const std::vector<PodEntry>& pods, const std::string& uuid) {
  auto it = std::find_if(pods.begin(), pods.end(), [&](const PodEntry& p) { return p.uuid == uuid; });
  return it == pods.end() ? nullptr : &*it;
}

TEST(ListPods, NoStateDirectoryIsNoPods) {
  Scratch s;
  EXPECT_TRUE(list_pods(s / "none").empty());
}

TEST(ListPods, EveryStateAndWhetherItIsLocked) {
  Scratch s;
  PodDir running = PodDir::create(s.path(), "u-run");
  running.move_to(PodState::kRun);
  {
    PodDir done = PodDir::create(s.path(), "u-done");
    done.move_to(PodState::kExitedGarbage);
  }
  auto pods = list_pods(s.path());
  ASSERT_EQ(pods.size(), 2u);
  const PodEntry* r = entry(pods, "u-run");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->dir_state, PodState::kRun);
  EXPECT_EQ(r->path, s / "pods" / "run" / "u-run");
  EXPECT_TRUE(r->locked);
  const PodEntry* d = entry(pods, "u-done");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->dir_state, PodState::kExitedGarbage);
  EXPECT_FALSE(d->locked);
}

TEST(PodsUsingImage, LivePodsPinTheirImagesAndStage1) {
  Scratch s;
  PodDir running = PodDir::create(s.path(), "u-run");
  running.write_manifest(manifest_for("u-run"));
  running.move_to(PodState::kRun);
  EXPECT_EQ(pods_using_image(s.path(), kImage), std::vector<std::string>{"u-run"});
  EXPECT_EQ(pods_using_image(s.path(), kStage1), std::vector<std::string>{"u-run"});
  EXPECT_TRUE(pods_using_image(s.path(), kOther).empty());
}

TEST(PodsUsingImage, ExitedOrUnlockedRunningPodsPinNothing) {
  Scratch s;
  {
    PodDir crashed = PodDir::create(s.path(), "u-crashed");
    crashed.write_manifest(manifest_for("u-crashed"));
    crashed.move_to(PodState::kRun);
  }
  {
    PodDir exited = PodDir::create(s.path(), "u-exited");
    exited.write_manifest(manifest_for("u-exited"));
    exited.move_to(PodState::kExitedGarbage);
  }
  EXPECT_TRUE(pods_using_image(s.path(), kImage).empty());
}

TEST(PodsUsingImage, PreparingPodWithoutManifestPinsNothing) {
  Scratch s;
  PodDir preparing = PodDir::create(s.path(), "u-prep");
  EXPECT_TRUE(pods_using_image(s.path(), kImage).empty());
  preparing.write_manifest(manifest_for("u-prep"));
  EXPECT_EQ(pods_using_image(s.path(), kImage), std::vector<std::string>{"u-prep"});
}

}  // namespace
}  // namespace crt::runtime
