#include "runtime/pods.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.hpp"
#include "store/store.hpp"
#include "test_support.hpp"

namespace crt::runtime {
namespace {

namespace stdfs = std::filesystem;
using test::Scratch;
using test::write_text;

const std::string kImage = "sha256:" + std::string(64, '1');
const std::string kStage1 = "sha256:" + std::string(64, '2');
const std::string kOther = "sha256:" + std::string(64, '3');

const std::string kLayer = "sha256:" + std::string(64, 'a');
const std::string kStage1Layer = "sha256:" + std::string(64, 'b');

pod::PodManifest manifest_for(const std::string& uuid, const std::string& layer = kLayer) {
  pod::PodManifest m;
  m.uuid = uuid;
  m.stage1.id = kStage1;
  m.stage1.layers = {kStage1Layer};
  pod::AppManifest a;
  a.name = "app";
  a.image.id = kImage;
  a.image.layers = {layer};
  m.apps = {a};
  return m;
}

/// A pod directory with a manifest in `state`, left unlocked.
void make_pod(const stdfs::path& dir, const std::string& uuid, PodState state, const std::string& layer = kLayer) {
  PodDir pod = PodDir::create(dir, uuid);
  pod.write_manifest(manifest_for(uuid, layer));
  if (state != PodState::kPrepare) pod.move_to(state);
}

std::vector<std::string> uuids_of(const std::vector<PodEntry>& pods) {
  std::vector<std::string> out;
  for (const auto& p : pods) out.push_back(p.uuid);
  std::sort(out.begin(), out.end());
  return out;
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
  PodDir running = PodDir::create(s.path(), "00000000-0000-4000-8000-000000000a0a");
  running.move_to(PodState::kRun);
  {
    PodDir done = PodDir::create(s.path(), "00000000-0000-4000-8000-000000000a03");
    done.move_to(PodState::kExitedGarbage);
  }
  auto pods = list_pods(s.path());
  ASSERT_EQ(pods.size(), 2u);
  const PodEntry* r = entry(pods, "00000000-0000-4000-8000-000000000a0a");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->dir_state, PodState::kRun);
  EXPECT_EQ(r->path, s / "pods" / "run" / "00000000-0000-4000-8000-000000000a0a");
  EXPECT_TRUE(r->locked);
  const PodEntry* d = entry(pods, "00000000-0000-4000-8000-000000000a03");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->dir_state, PodState::kExitedGarbage);
  EXPECT_FALSE(d->locked);
}

/// A pod named `name` in `state`, created at `created`.
void make_named_pod(const stdfs::path& dir, const std::string& uuid, const std::string& name, PodState state,
                    const std::string& created) {
  PodDir pod = PodDir::create(dir, uuid);
  pod::PodManifest m = manifest_for(uuid);
  m.name = name;
  m.created = created;
  pod.write_manifest(m);
  pod.move_to(state);
}

TEST(FindPod, ByUuidNameOrUniquePrefix) {
  Scratch s;
  make_named_pod(s.path(), "56ab81a0-0000-4000-8000-000000000001", "web", PodState::kExitedGarbage, "2026-01-01");
  make_named_pod(s.path(), "56ab81a0-0000-4000-8000-000000000002", "web", PodState::kExitedGarbage, "2026-01-02");
  make_named_pod(s.path(), "a2b120b2-0000-4000-8000-000000000003", "", PodState::kExitedGarbage, "2026-01-03");
  EXPECT_EQ(find_pod(s.path(), "56ab81a0-0000-4000-8000-000000000001").uuid, "56ab81a0-0000-4000-8000-000000000001");
  // The latest pod that had the name.
  EXPECT_EQ(find_pod(s.path(), "web").uuid, "56ab81a0-0000-4000-8000-000000000002");
  EXPECT_EQ(find_pod(s.path(), "a2").uuid, "a2b120b2-0000-4000-8000-000000000003");
  EXPECT_THROW(find_pod(s.path(), "56ab"), Error);  // two pods
  EXPECT_THROW(find_pod(s.path(), "nosuch"), Error);
}

// A name of a pod that has ended that is also another pod's unique UUID
// prefix: crt does not guess which one is meant.
TEST(FindPod, ANameThatIsAlsoAnotherPodsUuidPrefixIsAmbiguous) {
  Scratch s;
  make_named_pod(s.path(), "56ab81a0-0000-4000-8000-000000000001", "a2", PodState::kExitedGarbage, "2026-01-01");
  make_named_pod(s.path(), "a2b120b2-0000-4000-8000-000000000002", "", PodState::kExitedGarbage, "2026-01-02");
  try {
    find_pod(s.path(), "a2");
    ADD_FAILURE() << "not ambiguous";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "pod 'a2' is ambiguous: the name of pod 56ab81a0-0000-4000-8000-000000000001 (exited garbage) and a UUID "
              "prefix of pod a2b120b2-0000-4000-8000-000000000002; give more of the UUID");
  }
  EXPECT_EQ(find_pod(s.path(), "a2b").uuid, "a2b120b2-0000-4000-8000-000000000002");
  // A pod that holds the name now (prepared, say) is the one it names.
  make_named_pod(s.path(), "56ab81a0-0000-4000-8000-000000000003", "a2", PodState::kPrepared, "2026-01-03");
  EXPECT_EQ(find_pod(s.path(), "a2").uuid, "56ab81a0-0000-4000-8000-000000000003");
}

TEST(PodsUsingImage, LivePodsPinTheirImagesAndStage1) {
  Scratch s;
  PodDir running = PodDir::create(s.path(), "00000000-0000-4000-8000-000000000a0a");
  running.write_manifest(manifest_for("00000000-0000-4000-8000-000000000a0a"));
  running.move_to(PodState::kRun);
  EXPECT_EQ(uuids_of(pods_using_image(s.path(), kImage)), std::vector<std::string>{"00000000-0000-4000-8000-000000000a0a"});
  EXPECT_EQ(uuids_of(pods_using_image(s.path(), kStage1)), std::vector<std::string>{"00000000-0000-4000-8000-000000000a0a"});
  EXPECT_TRUE(pods_using_image(s.path(), kOther).empty());
}

TEST(PodsUsingImage, ExitedPodsPinTheirImagesUntilTheyAreRemoved) {
  Scratch s;
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a04", PodState::kRun);  // run/ and unlocked: it exited (or crashed)
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a06", PodState::kExitedGarbage);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a09", PodState::kPrepared);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a00", PodState::kPrepare);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a05", PodState::kGarbage);
  PodDir deleting = PodDir::create(s.path(), "00000000-0000-4000-8000-000000000a02");
  deleting.write_manifest(manifest_for("00000000-0000-4000-8000-000000000a02"));
  deleting.move_to(PodState::kExitedGarbage);
  EXPECT_EQ(uuids_of(pods_using_image(s.path(), kImage)),
            (std::vector<std::string>{"00000000-0000-4000-8000-000000000a04", "00000000-0000-4000-8000-000000000a06", "00000000-0000-4000-8000-000000000a09"}));
  auto pods = pods_using_image(s.path(), kImage);
  auto exited = std::find_if(pods.begin(), pods.end(), [](const PodEntry& p) { return p.uuid == "00000000-0000-4000-8000-000000000a04"; });
  ASSERT_NE(exited, pods.end());
  EXPECT_EQ(exited->status(), PodStatus::kExited);
}

TEST(PodsUsingImage, PreparingPodWithoutManifestPinsNothing) {
  Scratch s;
  PodDir preparing = PodDir::create(s.path(), "00000000-0000-4000-8000-000000000a08");
  EXPECT_TRUE(pods_using_image(s.path(), kImage).empty());
  preparing.write_manifest(manifest_for("00000000-0000-4000-8000-000000000a08"));
  EXPECT_EQ(uuids_of(pods_using_image(s.path(), kImage)), std::vector<std::string>{"00000000-0000-4000-8000-000000000a08"});
}

TEST(LayersInUse, EveryLayerOfPodsNotYetRemoved) {
  Scratch s;
  const std::string exited = "sha256:" + std::string(64, 'c');
  const std::string marked = "sha256:" + std::string(64, 'd');
  const std::string garbage = "sha256:" + std::string(64, 'e');
  const std::string aborted = "sha256:" + std::string(64, 'f');
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a04", PodState::kRun, exited);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a06", PodState::kExitedGarbage, marked);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a05", PodState::kGarbage, garbage);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a00", PodState::kPrepare, aborted);
  PodPins pins = layers_in_use(s.path());
  EXPECT_EQ(pins.layers, (std::set<std::string>{kStage1Layer, exited, marked}));
  EXPECT_TRUE(pins.unreadable.empty());
}

// A pod that keeps its images but whose manifest cannot be read (damaged,
// or written by another crt) may use any layer: gc and image rm must not
// take it for one that uses none.
TEST(LayersInUse, APinningPodWhoseManifestCannotBeReadMayUseAnyLayer) {
  Scratch s;
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a07", PodState::kRun, kLayer);
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a01", PodState::kRun, "sha256:" + std::string(64, 'c'));
  const stdfs::path manifest = s / "pods" / "run" / "00000000-0000-4000-8000-000000000a01" / "pod.json";
  write_text(manifest, "{\"crt\": \"from another version");
  PodPins pins = layers_in_use(s.path());
  EXPECT_EQ(pins.layers, (std::set<std::string>{kStage1Layer, kLayer})) << "the pods that can be read";
  ASSERT_EQ(pins.unreadable.size(), 1u);
  EXPECT_EQ(pins.unreadable[0].pod.uuid, "00000000-0000-4000-8000-000000000a01");
  const std::string why = "cannot tell which images pod 00000000-0000-4000-8000-000000000a01 (exited) uses: '" + manifest.string() + "': ";
  std::string message = pins.unreadable[0].message();
  EXPECT_EQ(message.rfind(why, 0), 0u) << message;
  EXPECT_TRUE(message.ends_with("; repair that file or remove the pod with 'crt rm 00000000-0000-4000-8000-000000000a01'")) << message;
  // crt image rm asks which pods use an image before it removes it: it
  // refuses rather than guess.
  std::string rm_error = test::error_of([&] { pods_using_image(s.path(), kOther); });
  EXPECT_EQ(rm_error, message);
  // Gone is no better than damaged, once the pod is past preparing.
  stdfs::remove(manifest);
  pins = layers_in_use(s.path());
  ASSERT_EQ(pins.unreadable.size(), 1u);
  EXPECT_EQ(pins.unreadable[0].message().rfind("cannot tell which images pod 00000000-0000-4000-8000-000000000a01 (exited) uses: ", 0), 0u);
  // A pod that keeps nothing may have any manifest.
  stdfs::rename(s / "pods" / "run" / "00000000-0000-4000-8000-000000000a01", s / "pods" / "garbage" / "00000000-0000-4000-8000-000000000a01");
  pins = layers_in_use(s.path());
  EXPECT_EQ(pins.layers, (std::set<std::string>{kStage1Layer, kLayer}));
  EXPECT_TRUE(pins.unreadable.empty());
  EXPECT_TRUE(pods_using_image(s.path(), kOther).empty());
}

// What to do about a running pod: stop it first.
TEST(LayersInUse, ARunningPodWhoseManifestCannotBeReadIsToBeStoppedFirst) {
  PodEntry running{"00000000-0000-4000-8000-000000000a0a", PodState::kRun, "/nonexistent/u-run", true};
  UnreadablePod u{running, "'x/pod.json': damaged"};
  EXPECT_EQ(u.message(),
            "cannot tell which images pod 00000000-0000-4000-8000-000000000a0a (running) uses: 'x/pod.json': damaged; repair that file, or stop the "
            "pod and remove it with 'crt rm 00000000-0000-4000-8000-000000000a0a'");
}

// A pod still being prepared: crt rm refuses it while the crt preparing it
// holds its lock, so the advice is to wait for that command or stop it.
TEST(LayersInUse, APreparingPodWhoseManifestCannotBeReadIsWaitedForOrItsCommandStopped) {
  for (PodState dir : {PodState::kPrepare, PodState::kPrepared}) {
    PodEntry preparing{"00000000-0000-4000-8000-000000000a08", dir, "/nonexistent/u-prep", true};
    UnreadablePod u{preparing, "'x/pod.json': damaged"};
    EXPECT_EQ(u.message(),
              "cannot tell which images pod 00000000-0000-4000-8000-000000000a08 (preparing) uses: 'x/pod.json': damaged; another crt is still "
              "preparing the pod: wait for that command to end, or stop it");
  }
}

// The store keeps every layer while some pod's use cannot be told, and
// removes them once it can.
TEST(LayersInUse, TheStoreKeepsEveryLayerWhileAPodsUseCannotBeTold) {
  Scratch s;
  write_text(s / "rootfs" / "etc" / "os-release", "ID=test\n");
  store::Store st(s.path());
  store::Image im = st.import_rootfs(s / "rootfs", store::parse_reference("x:1"), {});
  make_pod(s.path(), "00000000-0000-4000-8000-000000000a01", PodState::kRun, kLayer);
  write_text(s / "pods" / "run" / "00000000-0000-4000-8000-000000000a01" / "pod.json", "");
  auto pinned = [&] {
    PodPins pins = layers_in_use(s.path());
    return store::Pins{pins.layers, !pins.unreadable.empty()};
  };
  EXPECT_EQ(st.remove("x:1", pinned).trees_kept, 1u);
  EXPECT_EQ(test::list_dir(st.root() / "trees").size(), 1u);
  store::GcResult r = st.gc(pinned);
  EXPECT_EQ(r.trees, 0u);
  EXPECT_EQ(r.trees_kept, 1u);
  EXPECT_EQ(test::list_dir(st.root() / "trees").size(), 1u);
  stdfs::rename(s / "pods" / "run" / "00000000-0000-4000-8000-000000000a01", s / "pods" / "garbage" / "00000000-0000-4000-8000-000000000a01");
  EXPECT_EQ(st.gc(pinned).trees, 1u);
  EXPECT_TRUE(test::list_dir(st.root() / "trees").empty());
}

TEST(PinsImages, EveryStateWithARootfsToKeep) {
  for (PodStatus st : {PodStatus::kPreparing, PodStatus::kPrepared, PodStatus::kRunning, PodStatus::kExited,
                       PodStatus::kExitedGarbage})
    EXPECT_TRUE(pins_images(st)) << status_name(st);
  for (PodStatus st : {PodStatus::kAbortedPrepare, PodStatus::kGarbage, PodStatus::kDeleting})
    EXPECT_FALSE(pins_images(st)) << status_name(st);
}

}  // namespace
}  // namespace crt::runtime
