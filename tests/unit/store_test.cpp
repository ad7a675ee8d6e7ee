#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "store/digest.hpp"
#include "store/layout_files.hpp"
#include "test_support.hpp"

namespace crt::store {
namespace {

namespace stdfs = std::filesystem;
using test::list_dir;
using test::read_text;
using test::Scratch;
using test::write_tar;
using test::write_text;
using Strings = std::vector<std::string>;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(s_ / "rootfs" / "bin" / "app", "#!/bin/sh\n", 0755);
    write_text(s_ / "rootfs" / "etc" / "os-release", "ID=test\n");
    write_text(s_ / "other" / "etc" / "os-release", "ID=other\n");
  }

  Image import(const std::string& source, const std::string& name, const std::string& created = "2024-01-01T00:00:00Z",
               RunConfig config = {}) {
    return store_.import_rootfs(s_ / source, parse_reference(name), {std::move(config), created, {}, {}});
  }

  [[nodiscard]] stdfs::path root() const { return store_.root(); }
  [[nodiscard]] Strings trees() const { return list_dir(root() / "trees"); }
  [[nodiscard]] Strings blobs() const { return list_dir(root() / "blobs" / "sha256"); }
  [[nodiscard]] Strings tmp() const { return list_dir(root() / "tmp"); }
  [[nodiscard]] std::string index() const {
    return stdfs::exists(root() / "index.json") ? read_text(root() / "index.json") : "";
  }

  /// The id an import of `rootfs` with `created` gets, computed the way the
  /// store does it (for finding ids with a shared prefix).
  static std::string id_for(const std::string& diff_id, const std::string& created) {
    return sha256_digest(make_image_config(RunConfig{}, {diff_id}, created).dump());
  }

  Scratch s_;
  Store store_{s_ / "state"};
};

TEST_F(StoreTest, OpeningCreatesTheLayout) {
  EXPECT_EQ(root(), s_ / "state" / "store");
  EXPECT_TRUE(stdfs::is_directory(root() / "blobs" / "sha256"));
  EXPECT_TRUE(stdfs::is_directory(root() / "trees"));
  EXPECT_TRUE(stdfs::is_directory(root() / "tmp"));
  EXPECT_TRUE(store_.list().empty());
}

// Images' files are kept as they are (setuid-root programs, device nodes):
// only root reaches them, in a new store and in one made open to all.
TEST_F(StoreTest, OnlyRootReachesTheStore) {
  auto mode = [](const stdfs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode(root()), 0700u);
  ASSERT_EQ(::chmod(root().c_str(), 0755), 0);
  Store again(s_ / "state");
  EXPECT_EQ(mode(root()), 0700u);
}

TEST_F(StoreTest, ImportRecordsTheImage) {
  RunConfig c;
  c.cmd = {"/bin/app", "--flag"};
  c.env = {"A=1"};
  Image im = import("rootfs", "app:1", "2024-05-06T07:08:09Z", c);
  EXPECT_TRUE(is_sha256_digest(im.id));
  EXPECT_EQ(im.names, Strings{"app:1"});
  ASSERT_EQ(im.layers.size(), 1u);
  EXPECT_EQ(im.created, "2024-05-06T07:08:09Z");
  EXPECT_EQ(im.size, std::string("#!/bin/sh\n").size() + std::string("ID=test\n").size());
  EXPECT_EQ(trees(), Strings{digest_hex(im.layers[0])});
  EXPECT_EQ(blobs(), Strings{digest_hex(im.id)});
  EXPECT_EQ(sha256_digest(read_text(root() / "blobs" / "sha256" / digest_hex(im.id))), im.id);
  EXPECT_EQ(read_text(store_.tree_path(im.layers[0]) / "etc" / "os-release"), "ID=test\n");
  EXPECT_EQ(store_.tree_paths(im), std::vector<stdfs::path>{store_.tree_path(im.layers[0])});
  EXPECT_TRUE(tmp().empty());

  auto found = store_.find("app:1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, im.id);
  EXPECT_EQ(found->config.cmd, c.cmd) << "the configuration comes back from its blob";
  EXPECT_EQ(found->config.env, c.env);
}

TEST_F(StoreTest, CreatedDefaultsToNow) {
  Image im = import("rootfs", "app", "");
  EXPECT_EQ(im.created.size(), std::string("2024-01-01T00:00:00Z").size()) << im.created;
  EXPECT_EQ(im.created.back(), 'Z');
}

TEST_F(StoreTest, SameDirectoryTwiceIsOneTree) {
  Image a = import("rootfs", "a", "2024-01-01T00:00:00Z");
  Image b = import("rootfs", "b", "2024-01-02T00:00:00Z");
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(trees().size(), 1u);
  EXPECT_EQ(store_.list().size(), 2u);
  EXPECT_TRUE(tmp().empty()) << "the second extraction is discarded";
}

// A tarball that lists files but not their directories (as a script's
// tar of a few paths does): the directories are made the same at every
// import, so its image is the same image.
TEST_F(StoreTest, ATarballWithoutItsDirectoriesIsTheSameImageAtEveryImport) {
  write_tar(s_ / "bare.tar", {test::tar_file("usr/local/bin/tool", "#!/x\n", 0755), test::tar_file("etc/conf", "c\n")});
  mode_t old_umask = ::umask(077);
  Image a = import("bare.tar", "bare:1");
  ::umask(old_umask);
  // Times in a layer's tar are of whole seconds.
  ::sleep(1);
  Image b = import("bare.tar", "bare:2");
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.layers, a.layers);
  for (const char* d : {"usr", "usr/local", "usr/local/bin", "etc"}) {
    struct stat st = test::stat_of(store_.tree_path(a.layers.at(0)) / d);
    EXPECT_EQ(st.st_mode & 07777, 0755u) << d;
    EXPECT_EQ(st.st_mtime, 0) << d;
    EXPECT_EQ(st.st_uid, ::geteuid()) << d;
  }
}

TEST_F(StoreTest, SameImageUnderTwoNamesIsOneImage) {
  Image a = import("rootfs", "a");
  Image b = import("rootfs", "b");
  EXPECT_EQ(a.id, b.id);
  auto all = store_.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].names, (Strings{"a:latest", "b:latest"}));
}

TEST_F(StoreTest, ReimportingANameMovesIt) {
  Image old = import("rootfs", "app", "2024-01-01T00:00:00Z");
  Image now = import("other", "app", "2024-01-02T00:00:00Z");
  EXPECT_EQ(store_.find("app")->id, now.id);
  auto by_id = store_.find(old.id);
  ASSERT_TRUE(by_id) << "the older image stays, without a name";
  EXPECT_TRUE(by_id->names.empty());
}

TEST_F(StoreTest, FindByNameIdOrPrefix) {
  Image im = import("rootfs", "docker.io/library/app:1.0");
  std::string hex = digest_hex(im.id);
  for (const std::string& ref : {std::string("docker.io/library/app:1.0"), im.id, hex, hex.substr(0, 4),
                                 hex.substr(0, 12), "sha256:" + hex.substr(0, 8)}) {
    auto found = store_.find(ref);
    ASSERT_TRUE(found) << ref;
    EXPECT_EQ(found->id, im.id) << ref;
  }
  EXPECT_FALSE(store_.find("docker.io/library/app"));
  EXPECT_FALSE(store_.find("app:1.0"));
  EXPECT_FALSE(store_.find(hex.substr(0, 3))) << "three digits are a name, not a prefix";
  std::string other_hex = hex[0] == '0' ? "1" + hex.substr(1) : "0" + hex.substr(1);
  EXPECT_FALSE(store_.find("sha256:" + other_hex));
}

TEST_F(StoreTest, ANameBeatsAnIdPrefix) {
  Image a = import("rootfs", "a", "2024-01-01T00:00:00Z");
  std::string prefix = digest_hex(a.id).substr(0, 12);
  Image b = import("other", prefix, "2024-01-02T00:00:00Z");
  ASSERT_NE(a.id, b.id);
  EXPECT_EQ(store_.find(prefix)->id, b.id) << "the image named so";
  EXPECT_EQ(store_.find("sha256:" + prefix)->id, a.id) << "'sha256:' says it is an ID";
  EXPECT_EQ(store_.find(digest_hex(a.id).substr(0, 13))->id, a.id);
  EXPECT_EQ(store_.remove(prefix).image.id, b.id);
  EXPECT_EQ(store_.find(prefix)->id, a.id) << "once the name is gone, the prefix finds the ID";
}

TEST_F(StoreTest, TheNameAnImageWasFoundBy) {
  Image im = import("rootfs", "b");
  import("rootfs", "a");
  im = *store_.find("b");
  ASSERT_EQ(im.names, (Strings{"b:latest", "a:latest"}));
  EXPECT_EQ(im.name_for("a"), "a:latest") << "not its first name";
  EXPECT_EQ(im.name_for("b:latest"), "b:latest");
  EXPECT_EQ(im.name_for(im.id), "b:latest");
  EXPECT_EQ(im.name_for(digest_hex(im.id).substr(0, 8)), "b:latest");
  EXPECT_EQ(Image{}.name_for("sha256:abcd"), "sha256:abcd");
}

TEST_F(StoreTest, TagDefaultsToLatest) {
  Image im = import("rootfs", "app");
  EXPECT_EQ(store_.find("app")->id, im.id);
  EXPECT_EQ(store_.find("app:latest")->id, im.id);
}

TEST_F(StoreTest, InvalidReferenceIsAnError) {
  import("rootfs", "app");
  EXPECT_THROW((void)store_.find("App With Spaces"), Error);
}

// A name stored before new names had to follow the distribution spec's
// rules ("a___b") still finds its image, so that it can be run or removed.
TEST_F(StoreTest, ANameStoredBeforeTheRulesGrewStricterIsFound) {
  Image im = import("rootfs", "app");
  nlohmann::json index = nlohmann::json::parse(test::read_text(root() / "index.json"));
  index["images"][0]["names"].push_back("my___app:latest");
  index["images"][0]["names"].push_back("reg.io/a._b:1");
  test::write_text(root() / "index.json", index.dump());
  ASSERT_TRUE(store_.find("my___app"));
  EXPECT_EQ(store_.find("my___app")->id, im.id);
  EXPECT_EQ(store_.find("my___app:latest")->id, im.id);
  EXPECT_EQ(store_.find("reg.io/a._b:1")->id, im.id);
  EXPECT_THROW((void)store_.find("other___app"), Error) << "what is no stored name is still invalid";
  (void)store_.remove("my___app");
  EXPECT_TRUE(store_.find("app")) << "only that name went";
  EXPECT_THROW((void)store_.find("my___app:latest"), Error) << "gone, it is an invalid name again";
}

TEST_F(StoreTest, AmbiguousIdPrefixIsAnError) {
  std::string diff_id = import("rootfs", "probe", "probe").layers[0];
  store_.remove("probe");
  // Find two creation times whose image ids share their first four digits.
  std::map<std::string, std::string> by_prefix;
  std::string first, second;
  for (int i = 0; second.empty(); ++i) {
    std::string created = "2024-01-01T00:00:00Z-" + std::to_string(i);
    std::string prefix = digest_hex(id_for(diff_id, created)).substr(0, 4);
    auto [it, fresh] = by_prefix.emplace(prefix, created);
    if (!fresh) {
      first = it->second;
      second = created;
    }
  }
  Image a = import("rootfs", "a", first);
  Image b = import("rootfs", "b", second);
  ASSERT_EQ(a.id.substr(0, 11), b.id.substr(0, 11));
  EXPECT_THROW((void)store_.find(digest_hex(a.id).substr(0, 4)), Error);
  size_t unique = 0;
  while (a.id[7 + unique] == b.id[7 + unique]) ++unique;
  EXPECT_EQ(store_.find(digest_hex(a.id).substr(0, unique + 1))->id, a.id);
  EXPECT_EQ(store_.find(digest_hex(b.id).substr(0, unique + 1))->id, b.id);
  EXPECT_THROW(store_.remove(digest_hex(a.id).substr(0, 4)), Error);
  EXPECT_EQ(store_.list().size(), 2u) << "an ambiguous remove removes nothing";
}

TEST_F(StoreTest, TooShortAnIdPrefixSaysWhatWouldDo) {
  Image im = import("rootfs", "app");
  std::string prefix = digest_hex(im.id).substr(0, 3);
  EXPECT_FALSE(store_.find(prefix));
  std::string want = "no image '" + prefix + "' in the store (an image ID prefix needs at least 4 hex digits, as in '" +
                     digest_hex(im.id).substr(0, 4) + "')";
  EXPECT_EQ(std::string(store_.no_image(prefix, "; more").what()), want);
  EXPECT_EQ(std::string(store_.no_image("sha256:" + prefix).what()),
            "no image 'sha256:" + prefix + "' in the store (an image ID prefix needs at least 4 hex digits, as in '" +
                digest_hex(im.id).substr(0, 4) + "')");
  try {
    store_.remove(prefix);
    ADD_FAILURE() << "removed";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), want);
  }
  // Not a prefix of any image's ID: only `more` follows.
  std::string other = prefix[0] == 'f' ? "e" : "f";
  EXPECT_EQ(std::string(store_.no_image(other, "; more").what()), "no image '" + other + "' in the store; more");
  EXPECT_EQ(std::string(store_.no_image("nosuch").what()), "no image 'nosuch' in the store");
}

TEST_F(StoreTest, RemoveKeepsALayerAnotherImageUses) {
  Image a = import("rootfs", "a", "2024-01-01T00:00:00Z");
  Image b = import("rootfs", "b", "2024-01-02T00:00:00Z");
  Image removed = store_.remove("a").image;
  EXPECT_EQ(removed.id, a.id);
  EXPECT_FALSE(store_.find("a"));
  EXPECT_EQ(trees(), Strings{digest_hex(b.layers[0])});
  EXPECT_EQ(read_text(store_.tree_path(b.layers[0]) / "etc" / "os-release"), "ID=test\n");
  EXPECT_EQ(blobs(), Strings{digest_hex(b.id)});
  store_.remove("b");
  EXPECT_TRUE(trees().empty());
  EXPECT_TRUE(blobs().empty());
  EXPECT_TRUE(tmp().empty());
  EXPECT_TRUE(store_.list().empty());
}

TEST_F(StoreTest, RemoveOneOfTwoNamesKeepsTheImage) {
  Image a = import("rootfs", "a");
  import("rootfs", "b");
  Image removed = store_.remove("a").image;
  EXPECT_EQ(removed.names, Strings{"a:latest"});
  auto b = store_.find("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->id, a.id);
  EXPECT_EQ(b->names, Strings{"b:latest"});
  EXPECT_EQ(trees().size(), 1u);
  EXPECT_EQ(blobs().size(), 1u);
}

TEST_F(StoreTest, RemoveByIdRemovesEveryName) {
  Image a = import("rootfs", "a");
  import("rootfs", "b");
  Image removed = store_.remove(a.id).image;
  EXPECT_EQ(removed.names, (Strings{"a:latest", "b:latest"}));
  EXPECT_TRUE(store_.list().empty());
  EXPECT_TRUE(trees().empty());
}

TEST_F(StoreTest, RemoveUnknownIsAnError) {
  EXPECT_THROW(store_.remove("nothing"), Error);
  import("rootfs", "a");
  EXPECT_THROW(store_.remove("nothing"), Error);
  EXPECT_EQ(store_.list().size(), 1u);
}

TEST_F(StoreTest, ListLoadsEveryConfiguration) {
  RunConfig c;
  c.entrypoint = {"/bin/app"};
  import("rootfs", "a", "2024-01-01T00:00:00Z", c);
  import("other", "b");
  auto all = store_.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].config.entrypoint, Strings{"/bin/app"});
  EXPECT_TRUE(all[1].config.entrypoint.empty());
}

TEST_F(StoreTest, CorruptConfigurationBlobIsDetected) {
  Image im = import("rootfs", "a");
  write_text(root() / "blobs" / "sha256" / digest_hex(im.id), "{}");
  EXPECT_THROW((void)store_.find("a"), Error);
}

TEST_F(StoreTest, CorruptIndexIsAnError) {
  import("rootfs", "a");
  write_text(root() / "index.json", "{not json");
  EXPECT_THROW((void)store_.list(), Error);
}

TEST_F(StoreTest, IndexSurvivesReopening) {
  Image im = import("rootfs", "a");
  Store again(s_ / "state");
  EXPECT_EQ(again.find("a")->id, im.id);
}

// A layer tree that cannot be removed keeps neither the image nor its
// blobs: the image is out of the index first; the tree is said, for gc.
TEST_F(StoreTest, ARemovalGoesOnPastATreeItCannotRemove) {
  Image im = import("rootfs", "a");
  // No work directory can be made for it to be moved to.
  stdfs::remove_all(root() / "tmp");
  write_text(root() / "tmp", "in the way");
  Removal r = store_.remove("a");
  EXPECT_FALSE(store_.find("a"));
  ASSERT_EQ(r.trees_failed.size(), 1u);
  EXPECT_NE(r.trees_failed[0].find("removing layer tree"), std::string::npos) << r.trees_failed[0];
  EXPECT_TRUE(blobs().empty()) << "its blobs are removed all the same";
}

// The failing import runs in a child process, so that even a crash could not
// hide what matters here: nothing becomes visible in the store.
class FailedImport : public StoreTest {
 protected:
  void expect_nothing_left(const std::string& tarball, const std::vector<test::TarMember>& members) {
    Image kept = import("rootfs", "kept");
    std::string index_before = index();
    write_tar(s_ / tarball, members);
    EXPECT_NE(test::outcome_in_child([&] { import(tarball, "evil"); }), test::Outcome::kReturned);
    EXPECT_EQ(index(), index_before) << "no index entry";
    EXPECT_EQ(trees(), Strings{digest_hex(kept.layers[0])}) << "no tree";
    EXPECT_EQ(blobs(), Strings{digest_hex(kept.id)}) << "no blob";
    EXPECT_FALSE(store_.find("evil"));
    EXPECT_EQ(read_text(s_ / "outside" / "victim"), "untouched");
    EXPECT_EQ(list_dir(s_ / "outside"), Strings{"victim"});
    import("other", "next");
    EXPECT_TRUE(tmp().empty()) << "tmp/ is empty after the next import";
  }
  void SetUp() override {
    StoreTest::SetUp();
    write_text(s_ / "outside" / "victim", "untouched");
  }
  static std::string victim_dir(const Scratch& s) { return (s / "outside").string(); }
};

TEST_F(FailedImport, DotDotEntry) {
  expect_nothing_left("evil.tar", {test::tar_file("etc/ok", "fine"), test::tar_file("../evil", "pwned")});
  EXPECT_FALSE(stdfs::exists(root() / "tmp" / "evil"));
  EXPECT_FALSE(stdfs::exists(root() / "evil"));
}

// An absolute entry is the tree's, as tar takes it: nothing outside is made.
TEST_F(StoreTest, AnAbsoluteEntryIsImportedUnderTheTreesRoot) {
  write_text(s_ / "outside" / "victim", "untouched");
  write_tar(s_ / "abs.tar", {test::tar_file((s_ / "outside" / "new").string(), "inside")});
  Image im = import("abs.tar", "abs");
  EXPECT_EQ(list_dir(s_ / "outside"), Strings{"victim"});
  EXPECT_EQ(read_text(root() / "trees" / digest_hex(im.layers[0]) / (s_ / "outside" / "new").relative_path()),
            "inside");
}

TEST_F(FailedImport, EntryThroughASymlink) {
  expect_nothing_left("evil.tar",
                      {test::tar_symlink("link", victim_dir(s_)), test::tar_file("link/victim", "pwned")});
}

TEST_F(FailedImport, HardLinkOutOfTheTree) {
  expect_nothing_left("evil.tar", {test::tar_hardlink("h", (s_ / "outside" / "victim").string())});
}

TEST_F(FailedImport, TruncatedTarball) {
  write_tar(s_ / "whole.tar", {test::tar_file("big", std::string(100000, 'x'))});
  std::string data = read_text(s_ / "whole.tar");
  Image kept = import("rootfs", "kept");
  write_text(s_ / "cut.tar", data.substr(0, 30000));
  EXPECT_NE(test::outcome_in_child([&] { import("cut.tar", "cut"); }), test::Outcome::kReturned);
  EXPECT_FALSE(store_.find("cut"));
  EXPECT_EQ(trees(), Strings{digest_hex(kept.layers[0])});
  import("other", "next");
  EXPECT_TRUE(tmp().empty());
}

// A store whose file system fills up says so, not only that a write failed:
// the blob fits, its extracted tree does not.
TEST(StoreOnAFullDisk, SaysWhyAnImportFailed) {
  Scratch s;
  test::Tmpfs small(s / "small", "size=1m");
  if (!small.valid()) GTEST_SKIP() << "mounting needs root";
  std::string data(2'000'000, '\0');
  std::ifstream("/dev/urandom").read(data.data(), static_cast<std::streamsize>(data.size()));  // no compression
  write_text(s / "rootfs" / "data", data);
  std::string error;
  {
    Store store(s / "small" / "state");
    try {
      store.import_rootfs(s / "rootfs", parse_reference("full"), {{}, "2024-01-01T00:00:00Z", {}, {}});
    } catch (const Error& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
    EXPECT_TRUE(list_dir(s / "small" / "state" / "tmp").empty());
  }
}

TEST_F(FailedImport, FailedImportIsAnErrorNotACrash) {
  write_tar(s_ / "evil.tar", {test::tar_file("../evil", "pwned")});
  EXPECT_THROW(import("evil.tar", "evil"), Error);
  EXPECT_TRUE(tmp().empty()) << "the work directory is removed at once";
}

TEST_F(StoreTest, StaleWorkDirectoryOfACrashedImportIsCleanedUp) {
  write_text(root() / "tmp" / "import.abc123" / "tree" / "file", "half");
  write_text(root() / "tmp" / "import.abc123.lock", "");
  import("rootfs", "a");
  EXPECT_TRUE(tmp().empty());
}

TEST_F(StoreTest, LockFileLeftWithoutItsWorkDirectoryIsCleanedUp) {
  // An import killed between creating its lock file and its directory, or
  // between removing the two.
  write_text(root() / "tmp" / "import.abc123.lock", "");
  import("rootfs", "a");
  EXPECT_TRUE(tmp().empty());
}

TEST_F(StoreTest, LockFileOfAWorkDirectoryBeingCreatedIsLeftAlone) {
  FileLock held = FileLock::acquire(root() / "tmp" / "import.busy01.lock", FileLock::Mode::kExclusive);
  import("rootfs", "a");
  EXPECT_EQ(tmp(), (Strings{"import.busy01.lock"}));
}

TEST_F(StoreTest, WorkDirectoryOfARunningImportIsLeftAlone) {
  write_text(root() / "tmp" / "import.busy01" / "tree" / "file", "in progress");
  FileLock held = FileLock::acquire(root() / "tmp" / "import.busy01.lock", FileLock::Mode::kExclusive);
  import("rootfs", "a");
  EXPECT_EQ(tmp(), (Strings{"import.busy01", "import.busy01.lock"}));
}

// A file of several hard links takes its blocks once: what gc says it freed
// counts it once, neither at none of its links nor at each.
TEST(TreeUsage, AFileOfSeveralLinksCountsOnce) {
  Scratch s;
  write_text(s / "t" / "big", std::string(1 << 20, 'x'));
  stdfs::create_directories(s / "t" / "d");
  stdfs::create_hard_link(s / "t" / "big", s / "t" / "link");
  stdfs::create_hard_link(s / "t" / "big", s / "t" / "d" / "link");
  write_text(s / "t" / "small", "abc");
  TreeUsage u = tree_usage(s / "t");
  EXPECT_EQ(u.content, (1u << 20) + 3);
  EXPECT_GE(u.disk, 1u << 20);
  EXPECT_LT(u.disk, 2u << 20);
  EXPECT_EQ(tree_usage(s / "t" / "small").content, 3u);
  EXPECT_EQ(tree_usage(s / "t" / "big").content, 1u << 20);
}

TEST(NowRfc3339, Format) {
  std::string t = crt::now_rfc3339();
  ASSERT_EQ(t.size(), 20u) << t;
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t[19], 'Z');
  EXPECT_GE(t.substr(0, 4), "2024");
}

TEST(LayoutFiles, AFifoOrDeviceInALayoutIsRefusedWithoutBeingOpened) {
  // Opened for reading, a FIFO would block crt for ever (it waits out a
  // stop signal meanwhile).
  Scratch s;
  stdfs::create_directories(s / "layout" / "blobs");
  ASSERT_EQ(::mkfifo((s / "layout" / "blobs" / "fifo").c_str(), 0644), 0);
  write_text(s / "layout" / "blobs" / "file", "content");
  DirectoryFiles files(s / "layout");
  try {
    (void)files.open("blobs/fifo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "'" + (s / "layout" / "blobs" / "fifo").string() + "' is not a regular file");
  }
  EXPECT_THROW((void)files.open("../../dev/null"), Error);
  std::unique_ptr<ByteSource> src = files.open("blobs/file");
  char buf[16];
  EXPECT_EQ(src->read(buf, sizeof buf), 7U);
}

}  // namespace
}  // namespace crt::store
