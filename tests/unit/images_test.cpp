#include "runtime/images.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "runtime/image_pull.hpp"
#include "store/digest.hpp"
#include "test_support.hpp"

namespace crt::runtime {
namespace {

namespace stdfs = std::filesystem;
using test::read_text;
using test::Scratch;
using test::write_text;

class Images : public ::testing::Test {
 protected:
  void SetUp() override { stdfs::create_directories(data_ / "images"); }

  /// A built-in image as the build puts it into the data directory.
  void add_builtin(const std::string& name) {
    test::write_tar(data_ / "images" / (name + ".tar"), {test::tar_file("bin/" + name, "#!", 0755)});
    write_text(data_ / "images" / (name + ".json"),
               R"({"created": "2024-02-03T04:05:06Z", "config": {"Cmd": ["/bin/)" + name + R"("]}})");
  }
  /// A stage1 tarball, with its digest beside it unless `digest` is empty.
  stdfs::path add_stage1(const std::string& digest_text, bool write_digest = true) {
    stdfs::path tar = data_ / "stage1.tar";
    test::write_tar(tar, {test::tar_file("usr/lib/systemd/systemd", "#!", 0755)});
    if (write_digest) write_text(tar.string() + ".sha256", digest_text);
    return tar;
  }
  static std::string hex_of_file(const stdfs::path& p) { return store::digest_hex(store::sha256_digest(read_text(p))); }

  Scratch s_;
  stdfs::path data_ = s_ / "data";
  store::Store store_{s_ / "state"};
};

TEST_F(Images, ResolveFindsWhatTheStoreHas) {
  write_text(s_ / "rootfs" / "x", "x");
  store::Image im = store_.import_rootfs(s_ / "rootfs", store::parse_reference("mine:1"), {{}, "t", {}, {}});
  EXPECT_EQ(resolve_image(store_, "mine:1", data_).id, im.id);
  EXPECT_EQ(resolve_image(store_, im.id, data_).id, im.id);
}

// A pull stores docker.io/x as docker.io/library/x: every way of naming it
// finds it.
TEST_F(Images, DockerHubNamesFindWhatAPullStored) {
  write_text(s_ / "rootfs" / "x", "x");
  store::Image im =
      store_.import_rootfs(s_ / "rootfs", store::parse_reference("docker.io/library/alpine:3"), {{}, "t", {}, {}});
  ResolveOptions never;
  never.policy = PullPolicy::kNever;
  for (const char* ref : {"docker.io/alpine:3", "docker.io/library/alpine:3"}) {
    EXPECT_EQ(resolve_image(store_, ref, data_, never).id, im.id) << ref;
    auto found = find_image(store_, ref, data_);
    ASSERT_TRUE(found) << ref;
    EXPECT_EQ(found->id, im.id);
  }
  // An import names an image as its archive does: found as written.
  write_text(s_ / "other" / "y", "y");
  store::Image imported =
      store_.import_rootfs(s_ / "other", store::parse_reference("docker.io/nginx:1"), {{}, "t", {}, {}});
  EXPECT_EQ(resolve_image(store_, "docker.io/nginx:1", data_, never).id, imported.id);
  EXPECT_EQ(find_image(store_, "docker.io/nginx:1", data_)->id, imported.id);
  EXPECT_EQ(store_key("docker.io/alpine"), "docker.io/library/alpine:latest");
  std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(store_key("reg.example:5000/app:1@" + digest), "reg.example:5000/app@" + digest) << "a repo digest";
  EXPECT_EQ(store_key("alpine:3"), "alpine:3");
  EXPECT_EQ(store_key("Bad//ref"), "Bad//ref");
}

TEST_F(Images, BuiltinImageIsImportedOnFirstUse) {
  add_builtin("busybox");
  store::Image im = resolve_image(store_, "busybox", data_);
  EXPECT_EQ(im.names, std::vector<std::string>{"busybox:latest"});
  EXPECT_EQ(im.created, "2024-02-03T04:05:06Z");
  EXPECT_EQ(im.config.cmd, std::vector<std::string>{"/bin/busybox"});
  EXPECT_EQ(store_.list().size(), 1u);
  EXPECT_EQ(resolve_image(store_, "busybox:latest", data_).id, im.id);
  EXPECT_EQ(store_.list().size(), 1u) << "imported once";
}

TEST_F(Images, BuiltinOnlyForPlainLatestNames) {
  add_builtin("busybox");
  EXPECT_THROW(resolve_image(store_, "busybox:1.36", data_), Error);
  EXPECT_THROW(resolve_image(store_, "library/busybox", data_), Error);
  EXPECT_TRUE(store_.list().empty());
  EXPECT_FALSE(import_builtin(store_, "nginx", data_));
}

TEST_F(Images, UnknownImageIsAnError) {
  try {
    resolve_image(store_, "nothing", data_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("no image 'nothing' in the store (import one with 'crt image import'; "
                                          "to pull it, give its registry",
                                          0),
              0u)
        << e.what();
  }
}

TEST_F(Images, Stage1TarballWithItsDigest) {
  stdfs::path tar = add_stage1("");
  std::string hex = hex_of_file(tar);
  write_text(tar.string() + ".sha256", hex + "\n");
  store::Image im = ensure_stage1(store_, data_, std::nullopt);
  EXPECT_EQ(im.names, std::vector<std::string>{"crt-stage1:" + hex.substr(0, 12)});
  EXPECT_EQ(ensure_stage1(store_, data_, std::nullopt).id, im.id);
  EXPECT_EQ(store_.list().size(), 1u);
}

TEST_F(Images, Stage1TarballWithoutDigestFileIsHashed) {
  stdfs::path tar = add_stage1("", false);
  EXPECT_EQ(ensure_stage1(store_, data_, std::nullopt).names[0], "crt-stage1:" + hex_of_file(tar).substr(0, 12));
}

TEST_F(Images, CorruptStage1IsRefused) {
  add_stage1(std::string(64, 'a') + "\n");
  EXPECT_THROW(ensure_stage1(store_, data_, std::nullopt), Error);
  EXPECT_TRUE(store_.list().empty());
}

TEST_F(Images, GarbageDigestFileIsRefused) {
  add_stage1("not a digest\n");
  EXPECT_THROW(ensure_stage1(store_, data_, std::nullopt), Error);
}

TEST_F(Images, MissingStage1SaysHowToGiveOne) {
  try {
    ensure_stage1(store_, data_, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--stage1-path"), std::string::npos) << e.what();
  }
}

// A path given is wrong as it stands: no hint to give one.
TEST_F(Images, MissingStage1GivenIsNamedWithoutTheHint) {
  EXPECT_EQ(test::error_of([&] { ensure_stage1(store_, data_, s_ / "nowhere"); }),
            "loading the stage1 image: '" + (s_ / "nowhere").string() + "' does not exist");
}

// Messages about short names name the configuration file in effect.
TEST_F(Images, ShortNamesNameTheConfigurationFileInEffect) {
  ResolveOptions opts;
  opts.config_file = "/srv/my crt.conf";
  std::string err = test::error_of([&] { resolve_image(store_, "nothing", data_, opts); });
  EXPECT_NE(err.find("the default registries of '/srv/my crt.conf')"), std::string::npos) << err;
  err = test::error_of([&] { remote_candidates("nothing", opts); });
  EXPECT_NE(err.find("([registries] default = … in '/srv/my crt.conf')"), std::string::npos) << err;
  EXPECT_NE(test::error_of([] { remote_candidates("nothing", {}); }).find("in '/etc/crt/crt.conf')"),
            std::string::npos);
}

// The syntax of a short name is checked as a full name's: the message
// names the reference as the user gave it.
TEST(RemoteCandidates, ABadShortNameIsQuotedAsGiven) {
  EXPECT_EQ(test::error_of([] { remote_candidates("UPPER/Case", {}); }),
            "invalid image reference 'UPPER/Case': the repository 'UPPER/Case' may hold only lowercase letters, digits "
            "and separators");
}

// A store an older crt kept may have another image under the stage1's
// name (that crt refused no import the name): it is not taken for the
// stage1, which is imported again under its name, with a warning.
TEST_F(Images, AnImageUnderTheStage1sNameThatCrtDidNotImportIsReplaced) {
  stdfs::path tar = add_stage1("");
  std::string hex = hex_of_file(tar);
  write_text(tar.string() + ".sha256", hex + "\n");
  write_text(s_ / "foreign" / "usr" / "lib" / "systemd" / "systemd", "#!/bin/foreign", 0755);
  store::Image foreign = store_.import_rootfs(s_ / "foreign", store::parse_reference("foreign:1"), {});
  stdfs::path index_path = store_.root() / "index.json";
  nlohmann::json index = nlohmann::json::parse(read_text(index_path));
  index["images"][0]["names"] = {"crt-stage1:" + hex.substr(0, 12)};
  write_text(index_path, index.dump());
  std::vector<std::string> told;
  MessageSink messages = [&](std::string_view m) { told.emplace_back(m); };

  store::Image im = ensure_stage1(store_, data_, std::nullopt, messages);
  EXPECT_NE(im.id, foreign.id);
  EXPECT_EQ(read_text(store_.tree_path(im.layers.at(0)) / "usr" / "lib" / "systemd" / "systemd"), "#!");
  EXPECT_EQ(store_.find("crt-stage1:" + hex.substr(0, 12))->id, im.id);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_THAT(told[0], ::testing::HasSubstr("warning: image " + foreign.id +
                                            ", which the store had under 'crt-stage1:" + hex.substr(0, 12) +
                                            "', the name of the stage1 in '" + tar.string() + "', is not that stage1"));
  // Told once: the image is now the one crt imported.
  EXPECT_EQ(ensure_stage1(store_, data_, std::nullopt, messages).id, im.id);
  EXPECT_EQ(told.size(), 1u);
  EXPECT_EQ(store_.find(foreign.id)->names, std::vector<std::string>{});
}

// A store whose real stage1 an older crt imported (without saying so in the
// index) keeps it, and tells nothing.
TEST_F(Images, TheStage1AnOlderCrtImportedIsKeptSilently) {
  stdfs::path tar = add_stage1("");
  write_text(tar.string() + ".sha256", hex_of_file(tar) + "\n");
  store::Image im = ensure_stage1(store_, data_, std::nullopt);
  stdfs::path index_path = store_.root() / "index.json";
  nlohmann::json index = nlohmann::json::parse(read_text(index_path));
  index["images"][0].erase("stage1_source");
  write_text(index_path, index.dump());
  std::vector<std::string> told;
  EXPECT_EQ(ensure_stage1(store_, data_, std::nullopt, [&](std::string_view m) { told.emplace_back(m); }).id, im.id);
  EXPECT_EQ(told, std::vector<std::string>{});
  EXPECT_EQ(store_.list().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(read_text(index_path))["images"][0].value("stage1_source", ""),
            "sha256:" + hex_of_file(tar));
}

TEST_F(Images, Stage1DirectoryOverride) {
  write_text(s_ / "stage1" / "usr" / "lib" / "systemd" / "systemd", "#!", 0755);
  // A tree without crt's prepare-app is no stage1.
  EXPECT_THAT(test::error_of([&] { (void)ensure_stage1(store_, data_, s_ / "stage1"); }),
              ::testing::HasSubstr("is no crt stage1: it has no /usr/lib/crt/prepare-app"));
  write_text(s_ / "stage1" / "usr" / "lib" / "crt" / "prepare-app", "#!", 0755);
  store::Image im = ensure_stage1(store_, data_, s_ / "stage1");
  EXPECT_EQ(im.names, std::vector<std::string>{"crt-stage1:dir"});
}

TEST(DefaultDataDir, BesideTheBinary) {
  stdfs::path exe = stdfs::read_symlink("/proc/self/exe");
  EXPECT_EQ(default_data_dir(), exe.parent_path().parent_path() / "lib" / "crt");
}

}  // namespace
}  // namespace crt::runtime
