// The store with OCI images: layouts, docker archives, shared layers, gc,
// export, resumable blobs.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "../support/blob_damage.hpp"
#include "../support/oci_builder.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "store/blob_store.hpp"
#include "store/export.hpp"
#include "store/import.hpp"
#include "store/layer_import.hpp"
#include "store/oci.hpp"
#include "store/store.hpp"
#include "test_support.hpp"

namespace crt::store {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;
using test::list_dir;
using test::Scratch;
using Strings = std::vector<std::string>;

class ImageStore : public ::testing::Test {
 protected:
  std::vector<Image> import(const stdfs::path& source, const std::string& name = "") {
    ImportRequest req;
    req.source = source;
    if (!name.empty()) req.name = parse_reference(name);
    Progress none;
    return import_images(store_, req, none);
  }
  [[nodiscard]] Strings trees() const { return list_dir(store_.root() / "trees"); }
  [[nodiscard]] Strings blobs() const { return list_dir(store_.root() / "blobs" / "sha256"); }
  /// A pull's image "pulled:1" whose blobs are stored: base_, then other_
  /// under a diff_id that is not its own, so committing it fails.
  ImageInput pulled_with_a_lying_second_layer() {
    ImageInput in;
    in.config = json{{"rootfs",
                      {{"type", "layers"},
                       {"diff_ids", {test::digest_of(test::decompress(base_)), test::digest_of("not this")}}}}}
                    .dump();
    for (const auto& l : {base_, other_}) {
      store_.blobs().put(test::digest_of(l), l);
      std::string media =
          l == base_ ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar";
      in.layers.push_back({media, test::digest_of(l), static_cast<int64_t>(l.size()), {}});
    }
    in.names.push_back(parse_reference("pulled:1"));
    return in;
  }

  std::string base_ = test::make_layer({test::file("etc/os-release", "ID=base\n"), test::file("bin/x", "x", 0755)});
  std::string app_ = test::make_layer({test::file("app", "app\n")}, test::Compression::kZstd);
  std::string other_ = test::make_layer({test::file("other", "other\n")}, test::Compression::kNone);
  Scratch s_;
  Store store_{s_ / "state"};
};

TEST_F(ImageStore, LayoutImagesShareTheirCommonLayer) {
  test::OciLayout lay(s_ / "layout");
  json a = lay.add_image({base_, app_}, {{"Cmd", {"/app"}}, {"ExposedPorts", {{"80/tcp", json::object()}}}});
  json b = lay.add_image({base_, other_}, {{"StopSignal", "SIGQUIT"}});
  lay.write_index({{a, "a"}, {b, "registry.example/b:2"}});
  std::vector<Image> images = import(lay.dir());
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].names, Strings{"layout:a"}) << "a bare tag goes after the layout's name";
  EXPECT_EQ(images[1].names, Strings{"registry.example/b:2"});
  EXPECT_EQ(images[0].layers[0], images[1].layers[0]);
  EXPECT_EQ(trees().size(), 3u) << "the base layer is unpacked once";
  EXPECT_EQ(images[0].config.cmd, Strings{"/app"});
  EXPECT_EQ(images[0].config.exposed_ports, Strings{"80/tcp"});
  EXPECT_EQ(images[1].config.stop_signal, "SIGQUIT");
  EXPECT_EQ(images[0].manifest, a["digest"]);
  EXPECT_EQ(images[0].blobs[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
  EXPECT_TRUE(store_.blobs().has(test::digest_of(app_))) << "layer blobs are kept for export";
  EXPECT_EQ(test::read_text(store_.tree_path(images[0].layers[1]) / "app"), "app\n");
  EXPECT_EQ(store_.find("layout:a")->id, images[0].id);

  // Importing again changes nothing.
  Strings before = blobs();
  import(lay.dir());
  EXPECT_EQ(blobs(), before);
  EXPECT_EQ(trees().size(), 3u);
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
}

// The image under crt-stage1:* is what every pod boots as its systemd: the
// store names no other so, whichever way it comes, and leaves nothing of it.
TEST_F(ImageStore, NoImageButCrtsStage1TakesTheStage1sName) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_}), "crt-stage1:0123456789ab"}});
  EXPECT_THAT(test::error_of([&] { import(lay.dir()); }),
              ::testing::HasSubstr("the image would be named 'crt-stage1:0123456789ab', a name crt keeps for its "
                                   "stage1 images"));
  test::write_text(s_ / "rootfs" / "usr" / "lib" / "systemd" / "systemd", "#!", 0755);
  EXPECT_THAT(test::error_of([&] { store_.import_rootfs(s_ / "rootfs", parse_reference("crt-stage1:mine"), {}); }),
              ::testing::HasSubstr("the image would be named 'crt-stage1:mine'"));
  Progress none;
  ImageInput in = pulled_with_a_lying_second_layer();
  in.layers.pop_back();
  in.config = json{{"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(test::decompress(base_))}}}}}.dump();
  in.names = {parse_reference("crt-stage1:0123456789ab")};
  EXPECT_THAT(test::error_of([&] { store_.commit_image(in, none); }),
              ::testing::HasSubstr("the image would be named 'crt-stage1:0123456789ab'"));
  EXPECT_EQ(store_.list().size(), 0u);
  EXPECT_EQ(trees(), Strings{});
  // A registry's repository of that name is another name.
  in.names = {parse_reference("registry.example/crt-stage1:1")};
  EXPECT_NO_THROW(store_.commit_image(in, none));

  Store::ImportOptions stage1;
  stage1.stage1_source = "sha256:" + std::string(64, 'a');
  Image im = store_.import_rootfs(s_ / "rootfs", parse_reference("crt-stage1:0123456789ab"), stage1);
  EXPECT_EQ(im.stage1_source, stage1.stage1_source);
  EXPECT_EQ(store_.find("crt-stage1:0123456789ab")->stage1_source, stage1.stage1_source);
}

TEST_F(ImageStore, ANameSelectsAmongSeveralAndRenames) {
  test::OciLayout lay(s_ / "layout");
  json a = lay.add_image({base_});
  json b = lay.add_image({other_});
  lay.write_index({{a, "a"}, {b, "b"}});
  std::vector<Image> images = import(lay.dir(), "mine:b");
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].layers[0], test::digest_of(test::decompress(other_)));
  EXPECT_EQ(images[0].names, Strings{"mine:b"});
  EXPECT_THROW(import(lay.dir(), "mine:c"), Error);
}

// Two different images of one layout whose names are one name in the store
// (as written or as keyed) are refused: the second would take the name and
// leave the first unnamed. One image under two such names is one image.
TEST_F(ImageStore, TwoImagesOfOneNameAreRefused) {
  test::OciLayout lay(s_ / "layout");
  json a = lay.add_image({base_});
  json b = lay.add_image({other_});
  lay.write_index({{a, "example.org/x:1"}, {b, "alias/x:1"}});
  ImportRequest req;
  req.source = lay.dir();
  req.name_key = [](const std::string& n) { return n == "alias/x:1" ? std::string("example.org/x:1") : n; };
  Progress none;
  EXPECT_THAT(test::error_of([&] { import_images(store_, req, none); }),
              ::testing::HasSubstr("entries 1 and 2 of its index.json are different images with one name, "
                                   "'example.org/x:1'"));
  EXPECT_TRUE(trees().empty());
  EXPECT_TRUE(blobs().empty());

  lay.write_index({{b, "example.org/x:1"}, {b, "alias/x:1"}});
  ASSERT_EQ(import_images(store_, req, none).size(), 2u);
  EXPECT_EQ(store_.find("example.org/x:1")->id, lay.last_config());
}

TEST_F(ImageStore, MultiPlatformLayoutGivesTheHostsImage) {
  test::OciLayout lay(s_ / "layout");
  std::string arm = test::make_layer({test::file("arch", "arm64\n")});
  std::string host = test::make_layer({test::file("arch", "host\n")});
  json m1 = lay.add_image({arm}, {}, "linux/arm64/v8");
  json m2 = lay.add_image({host});
  lay.write_index({{lay.add_index({m1, m2}), "multi"}});
  std::vector<Image> images = import(lay.dir());
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(test::read_text(store_.tree_path(images[0].layers[0]) / "arch"), "host\n");
  ImportRequest req;
  req.source = lay.dir();
  req.platform = oci::parse_platform("linux/arm64");
  Progress none;
  images = import_images(store_, req, none);
  EXPECT_EQ(test::read_text(store_.tree_path(images[0].layers[0]) / "arch"), "arm64\n");
}

TEST_F(ImageStore, ASinglePlatformImageOfAnotherPlatformIsRefusedWhenOneIsAskedFor) {
  test::OciLayout lay(s_ / "layout");
  json arm = lay.add_image({base_}, {}, "linux/arm64/v8");
  lay.write_index({{arm, "arm"}});
  ImportRequest req;
  req.source = lay.dir();
  req.platform = oci::parse_platform("linux/amd64");
  Progress none;
  EXPECT_THAT(test::error_of([&] { import_images(store_, req, none); }),
              ::testing::EndsWith(": the image is for linux/arm64, not linux/amd64 as --platform asks"));
  EXPECT_TRUE(store_.list().empty());
  // Asked for its own, or for none (it is whatever platform it is): taken.
  req.platform = oci::parse_platform("linux/arm64");
  EXPECT_EQ(import_images(store_, req, none).size(), 1u);
  EXPECT_EQ(import(lay.dir()).size(), 1u);
}

TEST_F(ImageStore, ACorruptBlobLeavesNothing) {
  test::OciLayout lay(s_ / "layout");
  json a = lay.add_image({base_, app_});
  lay.write_index({{a, "a"}});
  // Flip the last layer blob's content: same length, another digest.
  stdfs::path blob = lay.dir() / "blobs" / "sha256" / test::digest_of(app_).substr(7);
  test::write_text(blob, test::with_a_byte_flipped(app_));
  EXPECT_THROW(import(lay.dir()), Error);
  EXPECT_TRUE(store_.list().empty());
  EXPECT_FALSE(store_.blobs().has(test::digest_of(app_)));
  EXPECT_FALSE(stdfs::exists(store_.tree_path(test::digest_of(test::decompress(app_)))));
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
}

// A layer's error names the layer once, by its place and blob digest, and
// says what was found instead.
TEST_F(ImageStore, ALayersErrorNamesItOnce) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_}), "a"}});
  std::string digest = test::digest_of(base_);
  test::write_text(lay.dir() / "blobs" / "sha256" / digest.substr(7), other_);
  std::string err = test::error_of([&] { import(lay.dir()); });
  EXPECT_THAT(err, ::testing::HasSubstr(": image 'layout:a': layer 1 (" + digest + "): the blob's digest is " +
                                        test::digest_of(other_)));
  size_t named = 0;
  for (size_t at = err.find(digest); at != std::string::npos; at = err.find(digest, at + 1)) ++named;
  EXPECT_EQ(named, 1u) << err;
  EXPECT_TRUE(trees().empty());
}

TEST_F(ImageStore, ADiffIdThatLiesIsRefused) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_}), "a"}});
  // Rewrite the config with another diff_id, and the manifest to match.
  json index = crt::json_text::parse(test::read_text(lay.dir() / "index.json"));
  std::string mdig = index["manifests"][0]["digest"];
  json manifest = crt::json_text::parse(test::read_text(lay.dir() / "blobs" / "sha256" / mdig.substr(7)));
  json config = crt::json_text::parse(
      test::read_text(lay.dir() / "blobs" / "sha256" / std::string(manifest["config"]["digest"]).substr(7)));
  config["rootfs"]["diff_ids"][0] = test::digest_of("not this");
  std::string c = config.dump();
  manifest["config"] = {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", lay.add_blob(c)}, {"size", c.size()}};
  std::string m = manifest.dump();
  lay.write_index({{json{{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", lay.add_blob(m)}, {"size", m.size()}}, "a"}});
  try {
    import(lay.dir());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not the diff_id"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(trees().empty());
}

// A layer whose root is opaque hides every layer below it (OCI), which
// overlayfs does not do for the root of a lower directory: the layers below
// it are not stacked. One above it still is.
TEST_F(ImageStore, ALayerWhoseRootIsOpaqueHidesTheLayersBelowIt) {
  std::string opaque = test::make_layer({test::file(".wh..wh..opq", ""), test::file("new", "new\n")});
  test::OciLayout lay(s_ / "layout");
  json a = lay.add_image({base_, app_, opaque});
  json b = lay.add_image({base_, opaque, other_});
  lay.write_index({{a, "a"}, {b, "b"}});
  std::vector<Image> images = import(lay.dir());
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(store_.tree_paths(images[0]), std::vector<stdfs::path>{store_.tree_path(images[0].layers[2])});
  EXPECT_EQ(store_.tree_paths(images[1]),
            (std::vector<stdfs::path>{store_.tree_path(images[1].layers[1]), store_.tree_path(images[1].layers[2])}));
  EXPECT_EQ(store_.tree_paths(images[1].layers).size(), 2u);
}

TEST_F(ImageStore, DockerArchive) {
  // docker save: manifest.json, <id>.json, <dir>/layer.tar (uncompressed).
  Scratch d;
  std::string l1 = test::decompress(base_), l2 = test::decompress(app_);
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Entrypoint", {"/app"}}, {"User", "1000:1000"}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(l1), test::digest_of(l2)}}}}};
  std::string c = config.dump();
  test::write_text(d / "src" / (test::digest_of(c).substr(7) + ".json"), c);
  test::write_text(d / "src" / "l1" / "layer.tar", l1);
  test::write_text(d / "src" / "l2" / "layer.tar", l2);
  json manifest = json::array({{{"Config", test::digest_of(c).substr(7) + ".json"},
                                {"RepoTags", {"example.org/app:3"}},
                                {"Layers", {"l1/layer.tar", "l2/layer.tar"}}}});
  test::write_text(d / "src" / "manifest.json", manifest.dump());
  std::vector<test::TarMember> members;
  for (const char* f : {"manifest.json", "l1/layer.tar", "l2/layer.tar"})
    members.push_back(test::tar_file(f, test::read_text(d / "src" / f)));
  members.push_back(test::tar_file(test::digest_of(c).substr(7) + ".json", c));
  test::write_tar(d / "saved.tar", members);
  EXPECT_EQ(detect_format(d / "saved.tar"), SourceFormat::kDockerArchive);
  // tar -C src . puts "./" before each name, and the layers may come first.
  std::vector<test::TarMember> dotted;
  for (const std::string& f : std::vector<std::string>{"l1/layer.tar", "l2/layer.tar", "manifest.json",
                                                       test::digest_of(c).substr(7) + ".json"})
    dotted.push_back(test::tar_file("./" + f, test::read_text(d / "src" / f)));
  test::write_tar(d / "dotted.tar", dotted);
  EXPECT_EQ(detect_format(d / "dotted.tar"), SourceFormat::kDockerArchive);
  std::vector<Image> images = import(d / "saved.tar");
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].id, test::digest_of(c)) << "the id is the configuration's digest, whatever the source";
  EXPECT_EQ(images[0].names, Strings{"example.org/app:3"});
  EXPECT_EQ(images[0].config.user, "1000:1000");
  EXPECT_EQ(images[0].blobs[0].digest, test::digest_of(l1)) << "an uncompressed layer's blob is its diff_id";
  EXPECT_EQ(images[0].blobs[0].media_type, "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(test::read_text(store_.tree_path(images[0].layers[1]) / "app"), "app\n");
}

// Which of two entries of one name counts differs between tools (docker
// load unpacks: the last): an archive scanned as one image could run as
// another. crt takes neither.
TEST_F(ImageStore, AnArchiveWithTwoEntriesOfOneNameIsRefused) {
  Scratch d;
  std::string l1 = test::decompress(base_);
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(l1)}}}}};
  std::string c = config.dump();
  std::string config_name = test::digest_of(c).substr(7) + ".json";
  auto manifest = [&](const std::string& tag) {
    return json::array({{{"Config", config_name}, {"RepoTags", {tag}}, {"Layers", {"l1/layer.tar"}}}}).dump();
  };
  test::write_tar(d / "two.tar", {test::tar_file("manifest.json", manifest("example.org/scanned:1")),
                                  test::tar_file(config_name, c), test::tar_file("l1/layer.tar", l1),
                                  test::tar_file("./manifest.json", manifest("example.org/run:1"))});
  try {
    import(d / "two.tar");
    FAIL() << "imported";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("'manifest.json' is in '" + (d / "two.tar").string() +
                                               "' twice: tools differ in which one counts, so crt takes neither"));
  }
  EXPECT_TRUE(trees().empty());
}

// Newer docker names each layer blobs/sha256/HEX, its digest, and gives no
// media type: imported again, the layer is in the store already, and its
// media type is its blob's.
TEST_F(ImageStore, DockerArchiveOfLayersNamedByDigestImportsAgain) {
  Scratch d;
  std::string l1 = test::decompress(base_);
  json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(l1), test::digest_of(test::decompress(app_))}}}}};
  std::string c = config.dump();
  std::string b1 = "blobs/sha256/" + test::digest_of(l1).substr(7);
  std::string b2 = "blobs/sha256/" + test::digest_of(app_).substr(7);  // zstd
  json manifest = json::array({{{"Config", "blobs/sha256/" + test::digest_of(c).substr(7)},
                                {"RepoTags", {"example.org/new:1"}},
                                {"Layers", {b1, b2}}}});
  test::write_tar(d / "saved.tar",
                  {test::tar_file("manifest.json", manifest.dump()), test::tar_file(b1, l1), test::tar_file(b2, app_),
                   test::tar_file("blobs/sha256/" + test::digest_of(c).substr(7), c)});
  std::vector<Image> first = import(d / "saved.tar");
  std::vector<Image> again = import(d / "saved.tar");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, first[0].id);
  EXPECT_EQ(again[0].blobs[0].media_type, "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(again[0].blobs[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
  EXPECT_EQ(again[0].manifest, first[0].manifest);
}

// A layer blob cut short in the store is as good as missing: importing the
// image again stores it again from the layout, and it exports.
TEST_F(ImageStore, ALayerBlobCutShortInTheStoreIsReplacedWhenImportedAgain) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}), "a"}});
  import(lay.dir());
  stdfs::path blob = store_.blobs().path(test::digest_of(app_));
  stdfs::resize_file(blob, app_.size() / 2);
  import(lay.dir());
  EXPECT_EQ(test::read_text(blob), app_);
  std::optional<Image> im = store_.find("layout:a");
  ASSERT_TRUE(im);
  EXPECT_NO_THROW(export_oci_archive(store_, *im, s_ / "a.tar", "a"));
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
}

// A docker archive's layer is read and checked whenever it is imported: the
// checked copy replaces the stored blob, damaged or not.
TEST_F(ImageStore, ADockerArchiveImportedAgainRepairsADamagedLayerBlob) {
  Scratch d;
  std::string l1 = test::decompress(base_);
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(l1)}}}}};
  json manifest = json::array({{{"Config", "c.json"}, {"RepoTags", {"example.org/l:1"}}, {"Layers", {"l/layer.tar"}}}});
  test::write_tar(d / "saved.tar", {test::tar_file("manifest.json", manifest.dump()),
                                    test::tar_file("c.json", config.dump()), test::tar_file("l/layer.tar", l1)});
  ImportRequest req;
  req.source = d / "saved.tar";
  Progress none;
  import_images(store_, req, none);
  stdfs::path blob = store_.blobs().path(test::digest_of(l1));
  test::flip_a_byte(blob);
  import_images(store_, req, none);
  EXPECT_EQ(test::read_text(blob), l1);
  EXPECT_NO_THROW(export_oci_archive(store_, *store_.find("example.org/l:1"), d / "l.tar", "l"));
}

// A docker archive's layers come without their digests: a layer the store
// has already (imported again, or another image's) is read and checked, not
// unpacked again; one that is not what the configuration says is refused.
TEST_F(ImageStore, ADockerArchivesLayerTheStoreHasIsCheckedNotUnpackedAgain) {
  struct Actions : Progress {
    Strings started;
    void start(const std::string&, const std::string& action, int64_t) override { started.push_back(action); }
  };
  auto archive = [](const stdfs::path& path, const std::string& diff_id, const std::string& layer) {
    json config = {
        {"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}};
    std::string c = config.dump();
    json manifest =
        json::array({{{"Config", "c.json"}, {"RepoTags", {"example.org/l:1"}}, {"Layers", {"l/layer.tar"}}}});
    test::write_tar(path, {test::tar_file("manifest.json", manifest.dump()), test::tar_file("c.json", c),
                           test::tar_file("l/layer.tar", layer)});
  };
  Scratch d;
  std::string l1 = test::decompress(base_);
  archive(d / "saved.tar", test::digest_of(l1), l1);
  ImportRequest req;
  req.source = d / "saved.tar";
  Actions first;
  std::vector<Image> a = import_images(store_, req, first);
  EXPECT_EQ(first.started, Strings{"unpacking"});
  Strings before = blobs();
  Actions again;
  std::vector<Image> b = import_images(store_, req, again);
  EXPECT_EQ(again.started, Strings{"checking"});
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].blobs[0].digest, test::digest_of(l1));
  EXPECT_EQ(b[0].size, a[0].size);
  EXPECT_EQ(b[0].manifest, a[0].manifest);
  EXPECT_EQ(blobs(), before);
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());

  archive(d / "lying.tar", test::digest_of(l1), test::decompress(app_));
  req.source = d / "lying.tar";
  Actions lying;
  EXPECT_THAT(test::error_of([&] { import_images(store_, req, lying); }), ::testing::HasSubstr("not the diff_id"));
  EXPECT_EQ(blobs(), before);
}

/// An image of the layer blobs `layers` whose configuration lists
/// `diff_ids`, which need not be theirs; returns its manifest descriptor.
json image_of(test::OciLayout& lay, const Strings& layers, const Strings& diff_ids) {
  json config = {
      {"architecture", test::host_arch()}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  std::string c = config.dump();
  json descriptors = json::array();
  for (const auto& l : layers) {
    std::string media = "application/vnd.oci.image.layer.v1.tar";
    if (l.compare(0, 2, "\x1f\x8b") == 0) media += "+gzip";
    if (l.compare(0, 4, "\x28\xb5\x2f\xfd") == 0) media += "+zstd";
    descriptors.push_back({{"mediaType", media}, {"digest", lay.add_blob(l)}, {"size", l.size()}});
  }
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", lay.add_blob(c)}, {"size", c.size()}}},
      {"layers", descriptors}};
  std::string m = manifest.dump();
  return {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", lay.add_blob(m)}, {"size", m.size()}};
}

// A layout's images are named all or none: one that fails takes no name
// from the images the store has, and the error says which failed.
TEST_F(ImageStore, AFailedImportOfSeveralImagesNamesNoneAndSaysWhichFailed) {
  test::write_text(s_ / "rootfs" / "etc" / "x", "x");
  Image old = store_.import_rootfs(s_ / "rootfs", parse_reference("victim:1"), {});
  test::OciLayout lay(s_ / "layout");
  json good = lay.add_image({base_});
  json bad = image_of(lay, {app_}, {test::digest_of("not this")});
  lay.write_index({{good, "victim:1"}, {bad, "other:1"}});
  EXPECT_THAT(test::error_of([&] { import(lay.dir()); }), ::testing::HasSubstr(": image 'other:1': layer 1 ("));
  ASSERT_TRUE(store_.find("victim:1"));
  EXPECT_EQ(store_.find("victim:1")->id, old.id);
  EXPECT_FALSE(store_.find("other:1"));
  EXPECT_EQ(store_.list().size(), 1u) << "no image is left without its name";
}

// A failed import takes out the layers and blobs it stored, of the images
// before the one that failed too; never what was there before it, what
// another image names, or a layer a pod uses.
TEST_F(ImageStore, AFailedImportTakesOutWhatItStoredAndNothingElse) {
  test::OciLayout first(s_ / "first");
  first.write_index({{first.add_image({base_}), "first:1"}});
  import(first.dir());
  std::string leftover = "a blob no image names";
  store_.blobs().put(test::digest_of(leftover), leftover);
  Strings trees_before = trees();
  Strings blobs_before = blobs();
  test::OciLayout lay(s_ / "layout");
  json good = lay.add_image({base_, other_});
  json bad = image_of(lay, {app_}, {test::digest_of("not this")});
  lay.write_index({{good, "good:1"}, {bad, "bad:1"}});
  EXPECT_THAT(test::error_of([&] { import(lay.dir()); }), ::testing::HasSubstr(": image 'bad:1': layer 1 ("));
  EXPECT_EQ(trees(), trees_before);
  EXPECT_EQ(blobs(), blobs_before);
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  ASSERT_TRUE(store_.find("first:1"));
  EXPECT_NO_THROW(export_oci_archive(store_, *store_.find("first:1"), s_ / "first.tar", "first"));

  // A layer a pod uses stays.
  std::string other_diff_id = test::digest_of(test::decompress(other_));
  ImportRequest req;
  req.source = lay.dir();
  req.pinned = [&] { return Pins{{other_diff_id}, false}; };
  Progress none;
  EXPECT_THROW(import_images(store_, req, none), Error);
  Strings with_pinned = trees_before;
  with_pinned.push_back(other_diff_id.substr(7));
  std::sort(with_pinned.begin(), with_pinned.end());
  EXPECT_EQ(trees(), with_pinned);
  EXPECT_EQ(blobs(), blobs_before) << "blobs are the images', not the pods'";
}

// Entries for several platforms under one name beside an image of another
// name: this machine's of the first, and the other.
TEST_F(ImageStore, PlatformEntriesOfOneNameBesideAnotherNameGiveTheHostsImage) {
  test::OciLayout lay(s_ / "layout");
  std::string foreign_platform = test::host_arch() == "arm64" ? "linux/amd64" : "linux/arm64";
  json host = lay.add_image({test::make_layer({test::file("arch", "host\n")})});
  json foreign = lay.add_image({test::make_layer({test::file("arch", "foreign\n")})}, {}, foreign_platform);
  json bar = lay.add_image({base_});
  lay.write_index({{host, "foo:1"}, {foreign, "foo:1"}, {bar, "bar:1"}});
  std::vector<Image> images = import(lay.dir());
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].names, Strings{"foo:1"});
  EXPECT_EQ(images[1].names, Strings{"bar:1"});
  ASSERT_TRUE(store_.find("foo:1"));
  EXPECT_EQ(test::read_text(store_.tree_path(store_.find("foo:1")->layers[0]) / "arch"), "host\n");
  EXPECT_EQ(store_.list().size(), 2u) << "no image of another platform is left unnamed";
}

// A manifest may pair a blob the store has with a diff_id whose tree it has
// too, yet the two be different layers: the blob is checked, not trusted.
TEST_F(ImageStore, AStoredBlobIsNotTakenForAnotherStoredLayer) {
  struct Actions : Progress {
    Strings started;
    void start(const std::string&, const std::string& action, int64_t) override { started.push_back(action); }
  };
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_}), "a"}, {lay.add_image({other_}), "b"}});
  import(lay.dir());
  test::OciLayout lying(s_ / "lying");
  lying.write_index({{image_of(lying, {base_}, {test::digest_of(test::decompress(other_))}), "c"}});
  EXPECT_THAT(test::error_of([&] { import(lying.dir()); }), ::testing::HasSubstr("not the diff_id"));
  EXPECT_FALSE(store_.find("lying:c"));
  EXPECT_EQ(store_.list().size(), 2u);

  ImportRequest req;
  req.source = lay.dir();
  Actions again;
  import_images(store_, req, again);
  EXPECT_TRUE(again.started.empty()) << "a pairing an image has already is not checked again";
}

// One damaged configuration hides no other image, keeps its own from
// neither removal nor repair.
TEST_F(ImageStore, ADamagedConfigurationIsListedRemovedAndRepaired) {
  test::OciLayout lay(s_ / "layout");
  json a = lay.add_image({base_});
  std::string a_id = lay.last_config();
  lay.write_index({{a, "a"}, {lay.add_image({other_}), "b"}});
  import(lay.dir());
  test::write_text(store_.blobs().path(a_id), "{}");
  Strings told;
  store_.set_messages([&](std::string_view m) { told.emplace_back(m); });
  EXPECT_EQ(store_.list().size(), 2u);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_THAT(told[0], ::testing::StartsWith("warning: image " + a_id + " (layout:a) is damaged"));
  EXPECT_THAT(test::error_of([&] { (void)store_.find("layout:a"); }), ::testing::HasSubstr("corrupt"));
  EXPECT_TRUE(store_.has_image("layout:a"));

  import(lay.dir());
  ASSERT_TRUE(store_.find("layout:a")) << "importing it again repairs it";
  EXPECT_EQ(store_.find("layout:a")->id, a_id);
  told.clear();
  (void)store_.list();
  EXPECT_TRUE(told.empty());

  test::write_text(store_.blobs().path(a_id), "{}");
  store_.remove("layout:a");
  EXPECT_FALSE(store_.has_image("layout:a"));
  EXPECT_TRUE(store_.find("layout:b"));
}

TEST_F(ImageStore, FormatsAreRecognized) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_}), "a"}});
  EXPECT_EQ(detect_format(lay.dir()), SourceFormat::kOciLayout);
  test::write_text(s_ / "rootfs" / "etc" / "x", "x");
  EXPECT_EQ(detect_format(s_ / "rootfs"), SourceFormat::kRootfs);
  test::write_tar(s_ / "rootfs.tar", {test::tar_dir("etc"), test::tar_file("etc/x", "x")});
  EXPECT_EQ(detect_format(s_ / "rootfs.tar"), SourceFormat::kRootfs);
  EXPECT_THROW(import(s_ / "rootfs"), Error) << "a rootfs needs a name";
}

// A rootfs may hold files named as an image archive's or a layout's (a web
// app's manifest.json, a copy of an oci-layout file): it is still a rootfs,
// first member or not. An archive of such names alone that is neither says
// how to import it as a rootfs.
TEST_F(ImageStore, ARootfsWithAnImageArchivesFileNamesIsARootfs) {
  std::string pwa = R"({"name":"My PWA","icons":[]})";
  test::write_tar(s_ / "pwa.tar", {test::tar_file("manifest.json", pwa), test::tar_dir("etc"),
                                   test::tar_file("etc/x", "x"), test::tar_file("index.json", "{}")});
  EXPECT_EQ(detect_format(s_ / "pwa.tar"), SourceFormat::kRootfs);
  test::write_tar(s_ / "layout-file.tar",
                  {test::tar_file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"),
                   test::tar_file("manifest.json", "[1, 2]"), test::tar_dir("blobs"), test::tar_file("etc/x", "x")});
  EXPECT_EQ(detect_format(s_ / "layout-file.tar"), SourceFormat::kRootfs);
  Image a = import(s_ / "pwa.tar", "pwa:1")[0];
  EXPECT_EQ(test::read_text(store_.tree_path(a.layers[0]) / "manifest.json"), pwa);

  test::write_text(s_ / "rootfs" / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  test::write_text(s_ / "rootfs" / "etc" / "x", "x");
  EXPECT_EQ(detect_format(s_ / "rootfs"), SourceFormat::kRootfs) << "no index.json, no blobs/";
  test::write_text(s_ / "rootfs" / "index.json", "{}");
  stdfs::create_directories(s_ / "rootfs" / "blobs");
  EXPECT_EQ(detect_format(s_ / "rootfs"), SourceFormat::kOciLayout);
  EXPECT_THAT(test::error_of([&] { import(s_ / "rootfs", "r:1"); }),
              ::testing::EndsWith("; if it is a root file system, --format=rootfs imports it as one"));
  ImportRequest req;
  req.source = s_ / "rootfs";
  req.name = parse_reference("r:1");
  req.format = SourceFormat::kRootfs;
  Progress none;
  EXPECT_EQ(import_images(store_, req, none).size(), 1u);

  test::write_tar(s_ / "only.tar", {test::tar_file("manifest.json", pwa)});
  EXPECT_THAT(test::error_of([&] { detect_format(s_ / "only.tar"); }),
              ::testing::HasSubstr("looks like an image archive, but holds neither an OCI layout (oci-layout, "
                                   "index.json and blobs/) nor a docker archive's manifest.json; if it is a root file "
                                   "system, --format=rootfs imports it as one"));
  test::write_tar(s_ / "docker.tar", {test::tar_file("manifest.json", R"([{"Config":"c.json","Layers":[]}])"),
                                      test::tar_file("etc/x", "x")});
  EXPECT_EQ(detect_format(s_ / "docker.tar"), SourceFormat::kDockerArchive);
  EXPECT_THAT(test::error_of([&] { import(s_ / "docker.tar", "d:1"); }),
              ::testing::EndsWith("; if the archive is a root file system, --format=rootfs imports it as one"));
}

// A layer's "a//b" and "a/./b" are a/b, as docker and containerd take them.
TEST_F(ImageStore, ALayerOfPathsWithEmptyOrDotComponentsImports) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({test::make_layer({test::dir("usr//bin/"), test::file("usr//bin/a", "a\n", 0755),
                                                     test::file("usr/./bin/./b", "b\n"),
                                                     test::hardlink("usr/bin//c", "./usr/./bin//a")})}),
                    "dots:1"}});
  Image a = import(lay.dir())[0];
  stdfs::path tree = store_.tree_path(a.layers[0]);
  EXPECT_EQ(list_dir(tree / "usr" / "bin"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(test::read_text(tree / "usr" / "bin" / "c"), "a\n");
  EXPECT_EQ(stdfs::hard_link_count(tree / "usr" / "bin" / "a"), 2u);
}

TEST_F(ImageStore, ExportThenImportGivesTheSameImage) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}, {{"Cmd", {"/bin/x"}}}), "v1"}});
  Image a = import(lay.dir())[0];
  export_oci_archive(store_, a, s_ / "out.tar", "example.org/a:v1");
  EXPECT_EQ(detect_format(s_ / "out.tar"), SourceFormat::kOciArchive);
  store_.remove(a.id);
  EXPECT_TRUE(trees().empty());
  Image b = import(s_ / "out.tar")[0];
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.manifest, a.manifest) << "the very blobs travel";
  EXPECT_EQ(b.names, Strings{"example.org/a:v1"});
}

// A failure after the tree was moved into the store (its configuration
// blob cannot be written, as on a full disk) takes the tree out again.
TEST_F(ImageStore, ARootfsImportThatFailsLateLeavesNoTree) {
  test::write_text(s_ / "rootfs" / "etc" / "x", "x");
  Store::ImportOptions opts{.config = {}, .created = "2026-01-01T00:00:00Z", .share_with = {}, .cancelled = {}};
  Image a = store_.import_rootfs(s_ / "rootfs", parse_reference("r:1"), opts);
  store_.remove("r:1");
  store_.gc({});
  ASSERT_TRUE(trees().empty());
  // The same import again makes the same configuration blob: a directory
  // in its place makes storing it fail.
  stdfs::create_directories(store_.blobs().path(a.id) / "in-the-way");
  Strings blobs_before = blobs();
  EXPECT_THAT(test::error_of([&] { store_.import_rootfs(s_ / "rootfs", parse_reference("r:1"), opts); }),
              ::testing::HasSubstr("importing"));
  EXPECT_TRUE(trees().empty());
  EXPECT_EQ(blobs(), blobs_before);
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  EXPECT_FALSE(store_.find("r:1"));
}

TEST_F(ImageStore, ExportOfARootfsImportHasItsDiffIdAsLayerDigest) {
  test::write_text(s_ / "rootfs" / "etc" / "x", "x");
  Image a = store_.import_rootfs(s_ / "rootfs", parse_reference("r:1"), {});
  export_oci_archive(store_, a, s_ / "r.tar", "r:1");
  store_.remove("r:1");
  Image b = import(s_ / "r.tar")[0];
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.layers, a.layers);
  EXPECT_EQ(b.blobs[0].digest, a.layers[0]);
}

TEST_F(ImageStore, ARootfsTarballImportIsExportedAndTheSameTreeIsTheSameLayer) {
  // As tar writes them: "./" first, in the order of the directory, a
  // hard link before its target's name sorts, a directory only implied.
  test::write_tar(s_ / "rootfs.tar",
                  {test::tar_dir("./"), test::tar_file("./zz", "z", 0755), test::tar_hardlink("./aa", "zz"),
                   test::tar_dir("./etc"), test::tar_file("./etc/x", "x"), test::tar_symlink("./bin", "usr/bin"),
                   test::tar_file("usr/bin/sh", "sh", 0755)});
  Image a = store_.import_rootfs(s_ / "rootfs.tar", parse_reference("t:1"), {});
  export_oci_archive(store_, a, s_ / "t.tar", "t:1");
  // The same tree from a directory is the same layer.
  stdfs::path tree = store_.tree_path(a.layers[0]);
  ASSERT_EQ(::system(("cp -a '" + tree.string() + "' '" + (s_ / "copy").string() + "'").c_str()), 0);
  Image c = store_.import_rootfs(s_ / "copy", parse_reference("c:1"),
                                 {.config = {}, .created = a.created, .share_with = {}, .cancelled = {}});
  EXPECT_EQ(c.layers, a.layers);
  store_.remove("t:1");
  Image b = import(s_ / "t.tar")[0];
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.layers, a.layers);
}

// As `crt image import / host` with crt's state in /var/lib/crt: the walk
// must not take in crt's images and pods, nor the tree it writes, which
// grows as it is read, without end.
TEST_F(ImageStore, ARootfsDirectoryHoldingTheStoreLeavesItOut) {
  test::write_text(s_ / "a", "a\n");
  test::write_text(s_ / "state" / "mine", "not crt's, but in its state directory\n");
  Strings said;
  store_.set_messages([&](std::string_view m) { said.emplace_back(m); });
  int asked = 0;
  // Stops a walk that would not end.
  auto opts =
      Store::ImportOptions{.config = {}, .created = {}, .share_with = {}, .cancelled = [&] { return ++asked > 1000; }};
  Image a = store_.import_rootfs(s_.path(), parse_reference("self:1"), opts);
  EXPECT_EQ(list_dir(store_.tree_path(a.layers[0])), Strings{"a"});
  EXPECT_EQ(said, Strings{"leaving out crt's own state at '" + (s_ / "state").string() + "'"});
  // The state directory's store alone, where it is imported from inside.
  said.clear();
  Image b = store_.import_rootfs(s_ / "state", parse_reference("self:2"), opts);
  EXPECT_EQ(list_dir(store_.tree_path(b.layers[0])), Strings{"mine"});
  EXPECT_EQ(said, Strings{"leaving out crt's own state at '" + store_.root().string() + "'"});
}

// JSON holds only UTF-8: such a value is refused, naming it, before the
// rootfs is read.
TEST_F(ImageStore, ARootfsConfigurationThatIsNotUtf8IsRefusedAndNothingStored) {
  test::write_text(s_ / "rootfs" / "etc" / "x", "x");
  std::vector<std::pair<RunConfig, std::string>> cases(6);
  cases[0] = {{}, "argument 'caf\xe9' is not valid UTF-8"};
  cases[0].first.cmd = {"/bin/echo", "caf\xe9"};
  cases[1] = {{}, "argument '/bin/\xff' is not valid UTF-8"};
  cases[1].first.entrypoint = {"/bin/\xff"};
  cases[2] = {{}, "environment variable 'A\xe9' is not valid UTF-8"};
  cases[2].first.env = {"A\xe9=1"};
  cases[3] = {{}, "environment variable 'A' is not valid UTF-8"};
  cases[3].first.env = {"A=caf\xe9"};
  cases[4] = {{}, "working directory '/w\xe9' is not valid UTF-8"};
  cases[4].first.working_dir = "/w\xe9";
  cases[5] = {{}, "volume '/v\xe9' is not valid UTF-8"};
  cases[5].first.volumes = {"/v\xe9"};
  for (const auto& [config, said] : cases) {
    ImportRequest req;
    req.source = s_ / "rootfs";
    req.name = parse_reference("nu:1");
    req.rootfs.config = config;
    Progress none;
    EXPECT_THAT(test::error_of([&] { import_images(store_, req, none); }), ::testing::HasSubstr(said));
    EXPECT_THAT(test::error_of([&] {
                  store_.import_rootfs(s_ / "rootfs", parse_reference("nu:1"),
                                       {.config = config, .created = {}, .share_with = {}, .cancelled = {}});
                }),
                ::testing::HasSubstr(said));
  }
  EXPECT_TRUE(trees().empty());
  EXPECT_TRUE(blobs().empty());
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  EXPECT_FALSE(store_.find("nu:1"));
}

/// A file of `size` bytes, holes but for `pieces` (offset, bytes).
void write_sparse(const stdfs::path& p, off_t size, const std::vector<std::pair<off_t, std::string>>& pieces) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd);
  for (const auto& [off, bytes] : pieces)
    ASSERT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), off), static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(::ftruncate(fd.get(), size), 0);
}

// tar --sparse stores only a sparse file's data, with a map of where each
// piece goes: each piece must land there, the holes between stay zeros.
TEST_F(ImageStore, ASparseFileInARootfsTarballKeepsItsContent) {
  stdfs::path src = s_ / "src";
  stdfs::create_directories(src);
  write_sparse(src / "file", 4 << 20, {{1 << 20, "AAAA"}, {3 << 20, "BBBB"}});
  write_sparse(src / "lead", 3 << 20, {{0, "head"}, {2 << 20, std::string(70000, 'x')}});
  std::string file = test::read_text(src / "file");
  std::string lead = test::read_text(src / "lead");
  Image dir = store_.import_rootfs(src, parse_reference("dir:1"), {});
  int n = 0;
  for (std::string format : {"gnu", "posix"}) {
    for (std::string gz : {"", "z"}) {
      std::string name = format + gz;
      stdfs::path tar = s_ / (name + ".tar");
      std::string cmd = "tar --sparse --format=" + format + " -c" + gz + "f '" + tar.string() + "' -C '" +
                        src.string() + "' file lead";
      ASSERT_EQ(::system(cmd.c_str()), 0) << cmd;
      Image a = store_.import_rootfs(tar, parse_reference("t:" + std::to_string(++n)),
                                     {.config = {}, .created = dir.created, .share_with = {}, .cancelled = {}});
      stdfs::path tree = store_.tree_path(a.layers[0]);
      EXPECT_TRUE(test::read_text(tree / "file") == file) << name << ": 'file' differs";
      EXPECT_TRUE(test::read_text(tree / "lead") == lead) << name << ": 'lead' differs";
      EXPECT_EQ(a.layers, dir.layers) << name << ": the same files are the same layer";
    }
  }
}

/// Bytes `p` takes on disk.
int64_t disk_usage(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) < 0) return -1;
  return static_cast<int64_t>(st.st_blocks) * 512;
}

// A sparse file's holes are not read (SEEK_DATA) and stay holes: a tree
// claiming terabytes must not take them, nor the time to read them, nor
// (whole MiBs of zeros being holes of the layer's entry) to hash them.
TEST_F(ImageStore, ASparseFileStaysSparseAndItsHolesAreNotRead) {
  stdfs::path src = s_ / "src";
  stdfs::create_directories(src);
  constexpr off_t kHuge = off_t{1} << 38;  // 256 GiB: minutes to read
  write_sparse(src / "huge", kHuge, {{1 << 20, "AAAA"}, {kHuge - 4, "ZZZZ"}});
  if (disk_usage(src / "huge") > (1 << 20)) GTEST_SKIP() << "the file system of " << s_.path() << " has no holes";
  auto start = std::chrono::steady_clock::now();
  copy_tree(src, s_ / "copy");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << "the holes were read";
  struct stat st {};
  ASSERT_EQ(::stat((s_ / "copy" / "huge").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, kHuge);
  EXPECT_LT(disk_usage(s_ / "copy" / "huge"), 1 << 20);
  UniqueFd fd(::open((s_ / "copy" / "huge").c_str(), O_RDONLY | O_CLOEXEC));
  char got[5] = {};
  ASSERT_EQ(::pread(fd.get(), got, 4, 1 << 20), 4);
  EXPECT_STREQ(got, "AAAA");
  ASSERT_EQ(::pread(fd.get(), got, 4, kHuge - 4), 4);
  EXPECT_STREQ(got, "ZZZZ");
  ASSERT_EQ(::pread(fd.get(), got, 4, 4096), 4);
  EXPECT_EQ(std::string(got, 4), std::string(4, '\0'));

  // An import of 64 MiB with its holes: sparse in the tree, from a
  // directory and from a tarball.
  stdfs::remove(src / "huge");
  write_sparse(src / "file", 64 << 20, {{1 << 20, "AAAA"}, {32 << 20, "BBBB"}});
  ASSERT_EQ(::system(("tar --sparse -cf '" + (s_ / "sp.tar").string() + "' -C '" + src.string() + "' file").c_str()),
            0);
  for (const auto& from : {src, s_ / "sp.tar"}) {
    Image a = store_.import_rootfs(from, parse_reference("sp:1"), {});
    stdfs::path tree = store_.tree_path(a.layers[0]);
    EXPECT_EQ(stdfs::file_size(tree / "file"), 64u << 20) << from;
    EXPECT_LT(disk_usage(tree / "file"), 1 << 20) << from;
    store_.remove("sp:1");
    store_.gc({});
  }
}

// The zeros of a sparse file's holes go through the digest's tar in pieces
// (which leaves them out), asking between them whether to go on; an import
// asked to stop goes no further.
TEST_F(ImageStore, AnImportAskedToStopInAHugeHoleStopsAtOnce) {
  stdfs::path src = s_ / "src";
  stdfs::create_directories(src);
  constexpr off_t kHuge = off_t{1} << 37;  // 128 GiB: a minute to hash
  write_sparse(src / "huge", kHuge, {{kHuge - 4, "ZZZZ"}});
  if (disk_usage(src / "huge") > (1 << 20)) GTEST_SKIP() << "the file system of " << s_.path() << " has no holes";
  int asked = 0;
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(test::error_of([&] {
                store_.import_rootfs(
                    src, parse_reference("huge:1"),
                    {.config = {}, .created = {}, .share_with = {}, .cancelled = [&] { return ++asked > 1000; }});
              }),
              ::testing::HasSubstr("interrupted"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << "the holes were hashed on";
  EXPECT_TRUE(trees().empty());
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
}

// A rootfs tarball's entries are refused as an OCI layer's are.
TEST_F(ImageStore, ARootfsTarballRefusesALinkToItselfAndPathsLongerThanPathMax) {
  std::string long_path = "d";  // in names a file system takes
  for (int i = 0; i < 30; ++i) long_path += "/" + std::string(199, 'x');
  struct Case {
    std::vector<test::TarMember> entries;
    std::string said;
  };
  std::vector<Case> cases = {
      {{test::tar_file("f", "f"), test::tar_hardlink("f", "f")},
       "'f' in '" + (s_ / "bad.tar").string() + "' is a hard link to itself"},
      {{test::tar_file(long_path, "x")}, "has a path of 6001 bytes, longer than the kernel's PATH_MAX"},
      {{test::tar_file("f", "f"), test::tar_hardlink(long_path, "f")}, "has a path of 6001 bytes"},
      {{test::tar_file("f", "f"), test::tar_hardlink("g", long_path)},
       "'" + long_path.substr(0, 64) + "…' in '" + (s_ / "bad.tar").string() +
           "' has a path of 6001 bytes, longer than the kernel's PATH_MAX"},
  };
  for (const auto& c : cases) {
    test::write_tar(s_ / "bad.tar", c.entries);
    EXPECT_THAT(test::error_of([&] { store_.import_rootfs(s_ / "bad.tar", parse_reference("bad:1"), {}); }),
                ::testing::HasSubstr(c.said));
    EXPECT_TRUE(trees().empty());
    EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  }
}

// A rootfs directory deeper than a path can name is refused as a tarball
// with such a path is: its deep part would be written only in part, with
// its owners lost, and could not be exported.
TEST_F(ImageStore, ARootfsDirectoryWithAPathLongerThanPathMaxIsRefused) {
  stdfs::create_directories(s_ / "deep");
  UniqueFd dir(::open((s_ / "deep").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; i < 30; ++i) {  // made level by level: no path names the deepest
    std::string name(199, 'x');
    ASSERT_EQ(::mkdirat(dir.get(), name.c_str(), 0755), 0) << std::strerror(errno);
    dir = UniqueFd(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir);
  }
  EXPECT_THAT(test::error_of([&] { store_.import_rootfs(s_ / "deep", parse_reference("deep:1"), {}); }),
              ::testing::HasSubstr("…' has a path of 4199 bytes, longer than the kernel's PATH_MAX"));
  EXPECT_TRUE(trees().empty());
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
}

/// Sets chattr's "d" (nodump) flag on `p`; false where its file system
/// keeps no such flags.
bool set_nodump(const stdfs::path& p, bool on = true) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  int flags = 0;
  if (!fd || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) < 0) return false;
  flags = on ? flags | FS_NODUMP_FL : flags & ~FS_NODUMP_FL;
  return ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) == 0;
}

// The store's tree cannot keep a file flag (extraction restores none): a
// layer that recorded it would never match its tree again, and the image
// could not be exported.
TEST_F(ImageStore, AFileFlagInARootfsDirectoryIsNoneOfItsLayer) {
  test::write_text(s_ / "rootfs" / "etc" / "f", "hi\n");
  if (!set_nodump(s_ / "rootfs" / "etc" / "f"))
    GTEST_SKIP() << "the file system of " << s_.path() << " keeps no file flags (chattr)";
  Image a = store_.import_rootfs(s_ / "rootfs", parse_reference("fl:1"), {});
  EXPECT_NO_THROW(export_oci_archive(store_, a, s_ / "fl.tar", "fl:1"));
  ASSERT_TRUE(set_nodump(s_ / "rootfs" / "etc" / "f", false));
  Image b = store_.import_rootfs(s_ / "rootfs", parse_reference("plain:1"),
                                 {.config = {}, .created = a.created, .share_with = {}, .cancelled = {}});
  EXPECT_EQ(b.layers, a.layers) << "the same content with or without a file flag is the same layer";
}

TEST_F(ImageStore, GcRemovesWhatNoImageUses) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}), "a"}, {lay.add_image({base_}), "b"}});
  std::vector<Image> images = import(lay.dir());
  EXPECT_EQ(store_.gc({}).trees, 0u) << "everything is in use";
  // A leftover of an interrupted pull.
  test::write_text(store_.root() / "tmp" / ("blob-" + std::string(64, 'f') + ".partial"), "half");
  // Temporary copies of writers killed before their rename.
  test::write_text(store_.root() / ".index.json.Ab12Cd", "[");
  test::write_text(store_.root() / "blobs" / "sha256" / ("." + std::string(64, 'e') + ".Ab12Cd"), "half");
  store_.remove("layout:a", [&] { return Pins{{images[0].layers[1]}}; });
  EXPECT_EQ(trees().size(), 2u) << "a layer a pod uses stays";
  GcResult r = store_.gc({});
  EXPECT_EQ(r.trees, 1u);
  EXPECT_EQ(r.tmp, 2u);
  EXPECT_FALSE(stdfs::exists(store_.root() / ".index.json.Ab12Cd"));
  EXPECT_EQ(trees(), Strings{images[1].layers[0].substr(7)});
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  EXPECT_EQ(store_.find("layout:b")->id, images[1].id) << "b is whole";
  Strings left = blobs();
  EXPECT_EQ(left.size(), 3u) << "b's manifest, configuration and layer";
}

/// A pull's image, its layer blobs stored as a pull stores them: `layers`
/// under the configuration `config`, from `repo`, with the manifest a
/// registry would send (recorded as the image's repo digest).
ImageInput pulled(Store& store, const std::string& config, const std::vector<std::string>& layers,
                  const std::string& repo) {
  ImageInput in;
  in.config = config;
  oci::Manifest m;
  m.media_type = std::string(oci::kImageManifest);
  m.config = {
      std::string(oci::kImageConfig), test::digest_of(config), static_cast<int64_t>(config.size()), std::nullopt, {}};
  for (const auto& l : layers) {
    store.blobs().put(test::digest_of(l), l);
    std::string media(l == test::decompress(l)            ? oci::kLayerTar
                      : l.starts_with("\x28\xb5\x2f\xfd") ? oci::kLayerZstd
                                                          : oci::kLayerGzip);
    m.layers.push_back({media, test::digest_of(l), static_cast<int64_t>(l.size()), std::nullopt, {}});
    in.layers.push_back({media, test::digest_of(l), static_cast<int64_t>(l.size()), {}});
  }
  in.manifest = oci::serialize(m);
  in.names.push_back(parse_reference(repo + ":1"));
  in.repo_digests.push_back(repo + "@" + test::digest_of(in.manifest));
  return in;
}

/// One image (configuration) of `base`'s layer pulled from two registries:
/// from a.example/x as `base` is, from b.example/x uncompressed; two
/// manifests, two layer blobs.
struct TwoPulls {
  std::string config;
  ImageInput a, b;
};
TwoPulls two_pulls(Store& store, const std::string& base) {
  TwoPulls p;
  p.config = json{{"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(test::decompress(base))}}}}}.dump();
  p.a = pulled(store, p.config, {base}, "a.example/x");
  p.b = pulled(store, p.config, {test::decompress(base)}, "b.example/x");
  return p;
}

// The same image (configuration) from two registries, its layer compressed
// in one and not in the other: two manifests, two layer blobs. Each repo
// digest names a manifest the store keeps with its layer blobs, and gives
// that manifest back: a gc leaves them, an export by it writes it, a
// removal of the image takes all.
TEST_F(ImageStore, AnImageAddedAgainByAnotherManifestKeepsThatManifest) {
  TwoPulls pulls = two_pulls(store_, base_);
  ImageInput &a = pulls.a, &b = pulls.b;
  std::string b_manifest = test::digest_of(b.manifest);
  Progress none;
  store_.commit_image(a, none);
  Image added = store_.commit_image(b, none);
  EXPECT_EQ(added.manifest, b_manifest);
  EXPECT_EQ(store_.list().size(), 1u) << "one image";
  EXPECT_EQ(store_.gc({}).blobs, 0u) << "every blob is an image's";

  std::optional<Image> by_b = store_.find(b.repo_digests[0]);
  ASSERT_TRUE(by_b);
  EXPECT_EQ(by_b->manifest, b_manifest) << "the manifest its repo digest names";
  EXPECT_EQ(by_b->blobs[0].digest, b.layers[0].digest);
  EXPECT_EQ(store_.find(a.repo_digests[0])->manifest, test::digest_of(a.manifest));
  EXPECT_EQ(store_.find(added.id)->manifest, test::digest_of(a.manifest)) << "the first stays the image's";

  export_oci_archive(store_, *by_b, s_ / "b.tar", "b.example/x:1");
  store_.remove(added.id);
  EXPECT_TRUE(blobs().empty()) << "its manifests and layer blobs go with it";
  EXPECT_TRUE(trees().empty());
  Image back = import(s_ / "b.tar")[0];
  EXPECT_EQ(back.manifest, b_manifest) << "the very manifest travels";
}

/// The manifest each of `im`'s names and repo digests was added by, as the
/// index records it where the name or digest does not say it.
json ref_manifests(const Store& store, const std::string& id) {
  json index = json_text::parse(fs::read_file(store.root() / "index.json"));
  for (const auto& im : index["images"])
    if (im["id"] == id) return im.value("ref_manifests", json::object());
  return nullptr;
}

// Two names of one image (configuration) added by two manifests: each gives
// back the manifest it was added by, as a repo digest does; the image's ID
// gives the first. A name added again by another manifest gives that one; a
// name removed or taken by another image leaves nothing behind.
TEST_F(ImageStore, EachNameGivesTheManifestItWasAddedBy) {
  TwoPulls pulls = two_pulls(store_, base_);
  const std::string& config = pulls.config;
  ImageInput &a = pulls.a, &b = pulls.b;
  std::string a_manifest = test::digest_of(a.manifest);
  std::string b_manifest = test::digest_of(b.manifest);
  Progress none;
  Image image = store_.commit_image(a, none);
  store_.commit_image(b, none);

  std::optional<Image> by_b = store_.find("b.example/x:1");
  ASSERT_TRUE(by_b);
  EXPECT_EQ(by_b->manifest, b_manifest);
  EXPECT_EQ(by_b->blobs[0].digest, b.layers[0].digest);
  EXPECT_EQ(store_.find("a.example/x:1")->manifest, a_manifest);
  EXPECT_EQ(store_.find(image.id)->manifest, a_manifest);
  EXPECT_EQ(store_.find(image.id.substr(7, 12))->manifest, a_manifest);

  // b's name, now by a's manifest (pulled from b.example's repository
  // again, which has a's now), and back.
  store_.commit_image(pulled(store_, config, {base_}, "b.example/x"), none);
  EXPECT_EQ(store_.find("b.example/x:1")->manifest, a_manifest);
  EXPECT_EQ(store_.find(b.repo_digests[0])->manifest, b_manifest) << "its repo digest still names its own";
  store_.commit_image(b, none);
  EXPECT_EQ(store_.find("b.example/x:1")->manifest, b_manifest);

  store_.remove("b.example/x:1");
  EXPECT_FALSE(store_.find("b.example/x:1"));
  EXPECT_EQ(ref_manifests(store_, image.id), json::object()) << "an untagged name is forgotten";
  store_.commit_image(b, none);
  ASSERT_EQ(ref_manifests(store_, image.id).size(), 1u);

  std::string other_config = json{{"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(other_)}}}}}.dump();
  Image other = store_.commit_image(pulled(store_, other_config, {other_}, "b.example/x"), none);
  EXPECT_EQ(store_.find("b.example/x:1")->id, other.id);
  EXPECT_EQ(ref_manifests(store_, image.id), json::object()) << "a name another image took is forgotten";
  EXPECT_EQ(store_.find(b.repo_digests[0])->manifest, b_manifest);
}

// A pull through a multi-platform index records the index's digest as a
// repo digest beside the manifest's: it gives the manifest the index led
// to, not the image's first. The index pulled for another platform, whose
// image is another, takes it along.
TEST_F(ImageStore, AnIndexDigestGivesTheManifestTheIndexLedTo) {
  TwoPulls pulls = two_pulls(store_, base_);
  ImageInput &a = pulls.a, &b = pulls.b;
  std::string index = "b.example/x@" + test::digest_of("an index");
  b.repo_digests.push_back(index);
  std::string b_manifest = test::digest_of(b.manifest);
  Progress none;
  Image image = store_.commit_image(a, none);
  store_.commit_image(b, none);

  std::optional<Image> by_index = store_.find(index);
  ASSERT_TRUE(by_index);
  EXPECT_EQ(by_index->manifest, b_manifest);
  EXPECT_EQ(by_index->blobs[0].digest, b.layers[0].digest);
  EXPECT_EQ(store_.find(image.id)->manifest, test::digest_of(a.manifest));
  EXPECT_EQ(store_.gc({}).blobs, 0u);

  std::string other_config = json{{"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(other_)}}}}}.dump();
  ImageInput c = pulled(store_, other_config, {other_}, "b.example/x");
  c.repo_digests.push_back(index);
  Image other = store_.commit_image(c, none);
  EXPECT_EQ(store_.find(index)->id, other.id);
  EXPECT_EQ(store_.find(index)->manifest, test::digest_of(c.manifest));
  EXPECT_EQ(ref_manifests(store_, image.id), json::object()) << "the index and the name went to the other image";
  EXPECT_EQ(store_.find(b.repo_digests[0])->manifest, b_manifest) << "b's own repo digest stays";
}

// A manifest kept beside the image's first goes once no name or repo
// digest names it (an import's name, removed): a gc takes the blobs only it
// has. One a repo digest still names stays with them.
TEST_F(ImageStore, AManifestNothingNamesGoesWithItsOwnBlobs) {
  TwoPulls pulls = two_pulls(store_, base_);
  const std::string& config = pulls.config;
  ImageInput &a = pulls.a, &b = pulls.b;
  std::string base_zstd = test::make_layer({test::file("etc/os-release", "ID=base\n"), test::file("bin/x", "x", 0755)},
                                           test::Compression::kZstd);
  ASSERT_EQ(test::decompress(base_zstd), test::decompress(base_));
  ImageInput c = pulled(store_, config, {base_zstd}, "c.example/x");
  c.repo_digests.clear();  // as an import names it
  Progress none;
  store_.commit_image(a, none);
  store_.commit_image(b, none);
  store_.commit_image(c, none);
  EXPECT_EQ(store_.find("c.example/x:1")->manifest, test::digest_of(c.manifest));
  Strings all = blobs();
  EXPECT_EQ(all.size(), 7u) << "a configuration, three manifests, three layer blobs";

  store_.remove("c.example/x:1");
  EXPECT_EQ(store_.gc({}).blobs, 2u) << "c's manifest and layer blob";
  Strings left = blobs();
  EXPECT_THAT(left, ::testing::Not(::testing::Contains(test::digest_of(c.manifest).substr(7))));
  EXPECT_THAT(left, ::testing::Not(::testing::Contains(c.layers[0].digest.substr(7))));
  store_.remove("b.example/x:1");
  EXPECT_EQ(store_.gc({}).blobs, 0u) << "b's repo digest still names b's manifest";
  std::optional<Image> by_b = store_.find(b.repo_digests[0]);
  ASSERT_TRUE(by_b);
  EXPECT_EQ(by_b->manifest, test::digest_of(b.manifest));
  export_oci_archive(store_, *by_b, s_ / "b.tar", "b.example/x:1");
  export_oci_archive(store_, *store_.find("a.example/x:1"), s_ / "a.tar", "a.example/x:1");
}

// An index written before names and indexes' digests kept their manifests:
// either gives the image's first, as it did, and a manifest's repo digest
// its own.
TEST_F(ImageStore, AnIndexWithoutTheManifestsOfNamesGivesTheFirst) {
  TwoPulls pulls = two_pulls(store_, base_);
  ImageInput &a = pulls.a, &b = pulls.b;
  std::string index = "b.example/x@" + test::digest_of("an index");
  b.repo_digests.push_back(index);
  Progress none;
  store_.commit_image(a, none);
  store_.commit_image(b, none);
  stdfs::path index_path = store_.root() / "index.json";
  json written = json_text::parse(fs::read_file(index_path));
  ASSERT_TRUE(written["images"][0].contains("ref_manifests"));
  written["images"][0].erase("ref_manifests");
  test::write_text(index_path, written.dump());

  EXPECT_EQ(store_.find("b.example/x:1")->manifest, test::digest_of(a.manifest));
  EXPECT_EQ(store_.find(index)->manifest, test::digest_of(a.manifest));
  EXPECT_EQ(store_.find(b.repo_digests[0])->manifest, test::digest_of(b.manifest));
  EXPECT_EQ(store_.gc({}).blobs, 0u);
}

// Pods that may use any layer: no tree goes, blobs and leftovers do.
TEST_F(ImageStore, LayersOfUnknownUseStayButBlobsAndLeftoversGo) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}), "a"}, {lay.add_image({base_}), "b"}});
  std::vector<Image> images = import(lay.dir());
  auto unknown = [&] { return Pins{{}, true}; };
  Removal removal = store_.remove("layout:a", unknown);
  EXPECT_EQ(removal.image.id, images[0].id);
  EXPECT_EQ(removal.trees_kept, 1u) << "the layer b does not use";
  EXPECT_EQ(trees().size(), 2u);
  EXPECT_EQ(blobs().size(), 3u) << "a's manifest, configuration and layer blob went";
  // A layer a known pin keeps is not one kept for want of knowing.
  GcResult r = store_.gc([&] { return Pins{{images[0].layers[1]}, true}; });
  EXPECT_EQ(r.trees, 0u);
  EXPECT_EQ(r.trees_kept, 0u);
  test::write_text(store_.root() / "tmp" / ("blob-" + std::string(64, 'f') + ".partial"), "half");
  test::write_text(store_.root() / "blobs" / "sha256" / std::string(64, 'e'), "unused");
  r = store_.gc(unknown);
  EXPECT_EQ(r.trees, 0u);
  EXPECT_EQ(r.trees_kept, 1u);
  EXPECT_EQ(r.blobs, 1u);
  EXPECT_EQ(r.tmp, 1u);
  EXPECT_EQ(trees().size(), 2u);
  EXPECT_EQ(blobs().size(), 3u) << "b's";
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  // Once every pod's use is known, the layer goes.
  r = store_.gc([] { return Pins{}; });
  EXPECT_EQ(r.trees, 1u);
  EXPECT_EQ(r.trees_kept, 0u);
  EXPECT_EQ(trees(), Strings{images[1].layers[0].substr(7)});
}

// A removal of a tree that was interrupted left part of it in tmp/ (as an
// older crt named it, with no lock): the next removal clears it.
TEST_F(ImageStore, RemovingATreeGoesOnPastAnInterruptedRemovalOfIt) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({other_}), "a"}});
  std::vector<Image> images = import(lay.dir());
  std::string hex = images[0].layers[0].substr(7);
  test::write_text(store_.root() / "tmp" / ("rm-" + hex) / "etc" / "half", "x");
  store_.remove("layout:a");
  EXPECT_TRUE(trees().empty());
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
}

TEST_F(ImageStore, AnImportAskedToStopLeavesNothing) {
  std::vector<test::LayerEntry> files;
  for (int i = 0; i < 8; ++i)
    files.push_back(test::file("f" + std::to_string(i), std::string(1 << 20, static_cast<char>('a' + i))));
  std::string layer = test::make_layer(files, test::Compression::kNone);
  std::string digest = test::digest_of(layer);
  store_.blobs().put(digest, layer);
  ImageInput in;
  in.config = json{{"rootfs", {{"type", "layers"}, {"diff_ids", {digest}}}}}.dump();
  in.layers.push_back({"application/vnd.oci.image.layer.v1.tar", digest, static_cast<int64_t>(layer.size()), {}});
  in.names.push_back(parse_reference("stopped:1"));
  Progress none;
  // Ctrl-C at the first block read (while libarchive opens the layer) and
  // while the layer is unpacked.
  for (int at : {1, 2}) {
    int asked = 0;
    in.cancelled = [&] { return ++asked == at; };
    try {
      store_.commit_image(in, none);
      ADD_FAILURE() << "the import went on";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos) << e.what();
    }
    EXPECT_EQ(asked, at);
    EXPECT_TRUE(trees().empty());
    EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
    EXPECT_FALSE(store_.find("stopped:1"));
  }
  in.cancelled = {};
  store_.commit_image(in, none);
  EXPECT_EQ(trees(), Strings{digest.substr(7)}) << "the next import completes";
}

// A pull stores the layer blobs, then commits the image: a commit that
// fails takes out the trees and blobs it added, of the layers before the
// one that failed too, but keeps the blobs stored before it (a pull's, for
// the next to resume from) and a layer a pod uses.
TEST_F(ImageStore, AFailedCommitTakesOutWhatItAddedButNotTheBlobsBeforeIt) {
  std::string base_diff_id = test::digest_of(test::decompress(base_));
  ImageInput in = pulled_with_a_lying_second_layer();
  Strings blobs_before = blobs();
  Progress none;
  EXPECT_THAT(test::error_of([&] { store_.commit_image(in, none); }), ::testing::HasSubstr("not the diff_id"));
  EXPECT_TRUE(trees().empty()) << "the first layer's tree is taken out again";
  EXPECT_EQ(blobs(), blobs_before);
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  EXPECT_FALSE(store_.find("pulled:1"));

  // The store's lock a caller hands over is let go of before the rollback
  // takes it exclusive (which would otherwise wait for it in vain: here it
  // gives up after 5 s, leaving the tree for a gc).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  store_.set_lock_wait({{}, [&] { return std::chrono::steady_clock::now() > deadline; }});
  EXPECT_THROW(store_.commit_image(in, none, {}, store_.lock_shared()), Error);
  EXPECT_TRUE(trees().empty());

  // A layer a pod uses stays.
  EXPECT_THROW(store_.commit_image(in, none, [&] { return Pins{{base_diff_id}, false}; }), Error);
  EXPECT_EQ(trees(), Strings{base_diff_id.substr(7)});
  EXPECT_EQ(blobs(), blobs_before);
}

// A failed commit does not wait for another crt that holds the store (a
// long pull) to take out what it added: it says it leaves that to a gc.
TEST_F(ImageStore, AFailedCommitDoesNotWaitForAnotherCrtUsingTheStore) {
  ImageInput in = pulled_with_a_lying_second_layer();
  std::vector<std::string> told;
  store_.set_messages([&](std::string_view m) { told.emplace_back(m); });
  // Without the patience, the wait would end here after 20 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  store_.set_lock_wait({{}, [&] { return std::chrono::steady_clock::now() > deadline; }});
  FileLock other = FileLock::acquire(store_.root() / "lock", FileLock::Mode::kShared);
  Progress none;
  auto started = std::chrono::steady_clock::now();
  EXPECT_THAT(test::error_of([&] { store_.commit_image(in, none); }), ::testing::HasSubstr("not the diff_id"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_THAT(told, ::testing::ElementsAre(::testing::HasSubstr("other crt commands are using the store")));
  EXPECT_FALSE(trees().empty()) << "the tree stays for a gc";

  other = FileLock();
  store_.gc({});
  EXPECT_TRUE(trees().empty());
  EXPECT_FALSE(store_.find("pulled:1"));
}

// Where a pod's pod.json cannot be read, a failed commit keeps the layers
// it unpacked (the pod may use them), and says so.
TEST_F(ImageStore, AFailedCommitSaysWhatItKeepsForAPodOfUnknownUse) {
  ImageInput in = pulled_with_a_lying_second_layer();
  std::vector<std::string> told;
  store_.set_messages([&](std::string_view m) { told.emplace_back(m); });
  Progress none;
  EXPECT_THROW(store_.commit_image(in, none, [] { return Pins{{}, true}; }), Error);
  EXPECT_THAT(told, ::testing::ElementsAre(
                        "warning: the layer the failed import or pull unpacked stays until 'crt image gc': a pod whose "
                        "pod.json cannot be read may use it"));
  EXPECT_EQ(trees().size(), 1u);
}

// Two imports of images with the same layers in another order, at once:
// each unpacks its first layer while the other unpacks its own; neither
// waits for a layer the other holds while it holds one the other waits for.
TEST_F(ImageStore, ImagesOfTheSameLayersInAnotherOrderImportAtOnce) {
  std::vector<std::string> layers = {base_, other_};
  std::vector<std::string> digests;
  for (size_t i = 0; i < layers.size(); ++i) {
    digests.push_back(test::digest_of(layers[i]));
    test::write_text(s_ / ("layer" + std::to_string(i)), layers[i]);
  }
  std::vector<std::string> diff_ids = {test::digest_of(test::decompress(base_)), test::digest_of(other_)};
  std::mutex m;
  std::condition_variable cv;
  int first_opened = 0;
  auto input = [&](std::vector<size_t> order, const std::string& name) {
    ImageInput in;
    json ids = json::array();
    for (size_t i : order) ids.push_back(diff_ids[i]);
    in.config = json{{"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}}.dump();
    for (size_t n = 0; n < order.size(); ++n) {
      size_t i = order[n];
      const char* media =
          i == 0 ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar";
      in.layers.push_back({media, digests[i], static_cast<int64_t>(layers[i].size()), [&, i, n] {
                             if (n == 0) {  // both hold their first layer's lock
                               std::unique_lock l(m);
                               ++first_opened;
                               cv.notify_all();
                               cv.wait_for(l, std::chrono::seconds(5), [&] { return first_opened == 2; });
                             }
                             return std::unique_ptr<ByteSource>(
                                 std::make_unique<FileSource>(s_ / ("layer" + std::to_string(i))));
                           }});
    }
    in.names.push_back(parse_reference(name));
    return in;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto commit = [&](ImageInput in, std::string& error) {
    try {
      Store store(s_ / "state");
      store.set_lock_wait({{}, [&] { return std::chrono::steady_clock::now() > deadline; }});
      Progress none;
      store.commit_image(in, none);
    } catch (const Error& e) {
      error = e.what();
    }
  };
  std::string error1, error2;
  std::thread t1(commit, input({0, 1}, "ab:1"), std::ref(error1));
  std::thread t2(commit, input({1, 0}, "ba:1"), std::ref(error2));
  t1.join();
  t2.join();
  EXPECT_EQ(error1, "");
  EXPECT_EQ(error2, "");
  EXPECT_TRUE(store_.find("ab:1"));
  EXPECT_TRUE(store_.find("ba:1"));
  EXPECT_EQ(trees().size(), 2u);
}

TEST_F(ImageStore, BlobWriterResumesWhatWasWritten) {
  std::string data(100000, 'q');
  std::string digest = test::digest_of(data);
  {
    BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(data.size()));
    w.write(data.data(), 40000);
  }  // interrupted
  {
    BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(data.size()));
    EXPECT_EQ(w.offset(), 40000u);
    w.write(data.data() + 40000, data.size() - 40000);
    w.commit();
  }
  EXPECT_EQ(test::read_text(store_.blobs().path(digest)), data);
  EXPECT_TRUE(BlobWriter(store_.blobs(), digest, -1).done());

  std::string other(10, 'z');
  BlobWriter bad(store_.blobs(), test::digest_of(other), 10);
  bad.write("zzzzzzzzzy", 10);
  EXPECT_THROW(bad.commit(), Error);
  EXPECT_EQ(bad.offset(), 0u) << "a corrupt blob is forgotten";
  EXPECT_FALSE(store_.blobs().has(test::digest_of(other)));
}

TEST_F(ImageStore, BlobWriterStoresOrForgetsWhatWasWrittenWhole) {
  std::string data(100000, 'q');
  std::string digest = test::digest_of(data);
  stdfs::path partial = store_.root() / "tmp" / ("blob-" + digest.substr(7) + ".partial");
  std::string wrong = data;
  wrong[5] = 'x';
  test::write_text(partial, wrong);
  {
    BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(data.size()));
    EXPECT_FALSE(w.done());
    EXPECT_EQ(w.offset(), 0u) << "all there and wrong: written again";
  }
  test::write_text(partial, data);
  EXPECT_TRUE(BlobWriter(store_.blobs(), digest, static_cast<int64_t>(data.size())).done()) << "all there and right";
  EXPECT_EQ(test::read_text(store_.blobs().path(digest)), data);
  EXPECT_FALSE(stdfs::exists(partial));
}

// A pull writes again a stored blob of another size than the manifest's
// (cut short on disk): it is not taken as done.
TEST_F(ImageStore, BlobWriterWritesAgainAStoredBlobOfAnotherSize) {
  std::string data(100000, 'q');
  std::string digest = test::digest_of(data);
  store_.blobs().put(digest, data);
  stdfs::resize_file(store_.blobs().path(digest), 1000);
  {
    BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(data.size()));
    ASSERT_FALSE(w.done());
    EXPECT_EQ(w.offset(), 0u);
    w.write(data.data(), data.size());
    w.commit();
  }
  EXPECT_EQ(test::read_text(store_.blobs().path(digest)), data);
  EXPECT_TRUE(BlobWriter(store_.blobs(), digest, static_cast<int64_t>(data.size())).done());
}

TEST_F(ImageStore, BlobWriterRefusesMoreThanTheBlobsSize) {
  std::string data(1000, 'q');
  std::string digest = test::digest_of(data);
  stdfs::path partial = store_.root() / "tmp" / ("blob-" + digest.substr(7) + ".partial");
  {
    BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(data.size()));
    w.write(data.data(), 600);
    try {
      w.write(data.data(), 600);
      ADD_FAILURE() << "more than the blob's size was written";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("more than its 1000 bytes came"), std::string::npos) << e.what();
    }
    EXPECT_EQ(w.offset(), 0u);
  }
  EXPECT_FALSE(stdfs::exists(partial)) << "nothing to resume is kept";
  EXPECT_FALSE(store_.blobs().has(digest));
}

}  // namespace
}  // namespace crt::store
