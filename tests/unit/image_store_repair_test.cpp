// A layer blob damaged in the store: an import that reads it stores the
// source's copy instead (a pull's source fetches it again); a commit
// without a source, or an export, that finds it takes it out, and the next
// import or pull of an image that has it stores it anew.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/blob_damage.hpp"
#include "../support/oci_builder.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "store/blob_store.hpp"
#include "store/export.hpp"
#include "store/import.hpp"
#include "store/store.hpp"
#include "test_support.hpp"

namespace crt::store {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;
using test::list_dir;
using test::Scratch;
using ::testing::HasSubstr;
using Strings = std::vector<std::string>;

class ImageStoreRepair : public ::testing::Test {
 protected:
  ImageStoreRepair() {
    store_.set_messages([this](std::string_view m) { told_.emplace_back(m); });
  }

  std::vector<Image> import(const stdfs::path& source) {
    ImportRequest req;
    req.source = source;
    Progress none;
    return import_images(store_, req, none);
  }
  [[nodiscard]] Strings blobs() const { return list_dir(store_.root() / "blobs" / "sha256"); }
  [[nodiscard]] stdfs::path stored(const std::string& blob) const { return store_.blobs().path(test::digest_of(blob)); }
  /// Damages the store's copy of `blob`, or puts one, damaged, there.
  void damage(const std::string& blob) const { test::write_text(stored(blob), test::with_a_byte_flipped(blob)); }
  void export_image(const std::string& ref) {
    std::optional<Image> im = store_.find(ref);
    ASSERT_TRUE(im) << ref;
    export_oci_archive(store_, *im, s_ / "out.tar", ref);
  }

  /// A pulled image of `layer` without a source to open: a layer blob the
  /// caller stored already.
  [[nodiscard]] static ImageInput pulled(const std::string& layer) {
    json config = {{"architecture", test::host_arch()},
                   {"os", "linux"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {test::digest_of(test::decompress(layer))}}}}};
    ImageInput in;
    in.config = config.dump();
    LayerInput l;
    l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    l.digest = test::digest_of(layer);
    l.size = static_cast<int64_t>(layer.size());
    in.layers.push_back(l);
    in.names = {parse_reference("registry.example/pulled:1")};
    return in;
  }

  std::string base_ = test::make_layer({test::file("etc/os-release", "ID=base\n"), test::file("bin/x", "x", 0755)});
  std::string app_ = test::make_layer({test::file("app", std::string(20000, 'a'))}, test::Compression::kNone);
  Scratch s_;
  Store store_{s_ / "state"};
  Strings told_;
};

// The store has a layer's blob, of its size, but no image pairs it with the
// layer (a pull or import cut short left it): the import reads it, finds it
// damaged and stores the layout's copy instead, whether the layer's tree
// is there (the blob checked) or not (unpacked).
TEST_F(ImageStoreRepair, ADamagedBlobNoImagePairsIsReplacedByTheSourcesCopy) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}), "a"}});
  for (bool tree_there : {false, true}) {
    SCOPED_TRACE(tree_there ? "the tree is there" : "no tree");
    std::string diff_id = test::digest_of(test::decompress(app_));
    if (tree_there) {
      // Gone with its image but its tree, which a pod uses.
      store_.remove("layout:a", [&] { return Pins{{diff_id}, false}; });
      ASSERT_TRUE(stdfs::exists(store_.tree_path(diff_id)));
    }
    damage(app_);
    told_.clear();
    std::vector<Image> images = import(lay.dir());
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(test::read_text(stored(app_)), app_) << "the checked copy replaced the damaged one";
    ASSERT_EQ(told_.size(), 1u);
    EXPECT_THAT(
        told_[0],
        HasSubstr("warning: layer blob " + test::digest_of(app_) + " was damaged in the store (its content was " +
                  test::digest_of(test::with_a_byte_flipped(app_)) + "); stored the copy being added instead"));
    EXPECT_EQ(test::read_text(store_.tree_path(diff_id) / "app"), std::string(20000, 'a'));
    EXPECT_NO_THROW(export_image("layout:a"));
    EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  }
}

// The source's copy is damaged too: the import fails saying so, takes out
// what it stored, and the store's damaged copy is gone as well.
TEST_F(ImageStoreRepair, ADamagedBlobWhoseSourceCopyIsDamagedTooFailsTheImport) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}), "a"}});
  test::write_text(lay.dir() / "blobs" / "sha256" / test::digest_of(app_).substr(7), test::with_a_byte_flipped(app_));
  damage(app_);
  EXPECT_THAT(test::error_of([&] { import(lay.dir()); }),
              HasSubstr(": layer 2 (" + test::digest_of(app_) + "): the store's copy was damaged (its content is " +
                        test::digest_of(test::with_a_byte_flipped(app_)) +
                        ") and is removed; the copy being added: the blob's digest is " +
                        test::digest_of(test::with_a_byte_flipped(app_))));
  EXPECT_TRUE(blobs().empty()) << "neither the damaged blob nor what the import stored stays";
  EXPECT_TRUE(list_dir(store_.root() / "trees").empty());
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());
  EXPECT_TRUE(store_.list().empty());
}

// A layer without a source to open (its blob stored by the caller): found
// damaged, the blob cannot be replaced. It is taken out, so that the next
// pull fetches it.
TEST_F(ImageStoreRepair, ADamagedBlobWithNoSourceToReadAgainIsRemovedForTheNextImportOrPull) {
  damage(base_);
  Progress none;
  EXPECT_THAT(test::error_of([&] { store_.commit_image(pulled(base_), none); }),
              HasSubstr("layer 1 (" + test::digest_of(base_) + "): its blob in the store is damaged (its content is " +
                        test::digest_of(test::with_a_byte_flipped(base_)) +
                        "): removed it; import or pull the image again to store it anew"));
  EXPECT_TRUE(blobs().empty());
  EXPECT_TRUE(store_.list().empty());
  // As the next pull fetches it.
  store_.blobs().put(test::digest_of(base_), base_);
  EXPECT_NO_THROW(store_.commit_image(pulled(base_), none));
  ASSERT_TRUE(store_.find("registry.example/pulled:1"));
}

// An intact blob that is not the layer the image says is the image's
// fault, not the store's: the blob stays.
TEST_F(ImageStoreRepair, AnIntactBlobOfAnotherLayerStays) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_}), "a"}});
  import(lay.dir());
  ImageInput lying = pulled(base_);
  json config = json::parse(lying.config);
  config["rootfs"]["diff_ids"] = {test::digest_of(test::decompress(app_))};
  lying.config = config.dump();
  Strings before = blobs();
  Progress none;
  EXPECT_THAT(test::error_of([&] { store_.commit_image(lying, none); }), HasSubstr("not the diff_id"));
  EXPECT_EQ(blobs(), before);
  EXPECT_TRUE(told_.empty());
}

// An image that pairs a blob with its tree has it trusted by imports and
// pulls, never read again: the export that finds it damaged takes it out,
// and then importing any image that has it repairs both, with no image
// removed (rm and gc would keep a blob another image shares).
TEST_F(ImageStoreRepair, ADamagedBlobAnExportFindsIsRemovedAndStoredAgainByTheNextImport) {
  test::OciLayout lay(s_ / "layout");
  lay.write_index({{lay.add_image({base_, app_}), "a"}, {lay.add_image({app_}), "b"}});
  import(lay.dir());
  damage(app_);
  EXPECT_THAT(test::error_of([&] { export_image("layout:b"); }),
              HasSubstr("layer blob " + test::digest_of(app_) + " in the store is corrupt: its content is " +
                        test::digest_of(test::with_a_byte_flipped(app_)) +
                        "; removed the damaged blob: import or pull 'layout:b' again to repair it"));
  EXPECT_FALSE(stdfs::exists(stored(app_)));
  EXPECT_FALSE(stdfs::exists(s_ / "out.tar"));
  EXPECT_THAT(test::error_of([&] { export_image("layout:a"); }),
              HasSubstr("layer blob " + test::digest_of(app_) +
                        " is missing from the store; import or pull 'layout:a' again to repair it"));
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());

  import(lay.dir());
  EXPECT_EQ(test::read_text(stored(app_)), app_);
  EXPECT_NO_THROW(export_image("layout:a"));
  EXPECT_NO_THROW(export_image("layout:b"));
  EXPECT_TRUE(told_.empty());
}

// What the caller read is what it takes out: a checked copy stored since
// (another import's) stays.
TEST_F(ImageStoreRepair, ACopyStoredSinceTheDamagedOneWasReadStays) {
  test::write_text(stored(app_), test::with_a_byte_flipped(app_));
  UniqueFd damaged = fs::open_fd(stored(app_), O_RDONLY);
  test::write_text(s_ / "good", app_);
  stdfs::rename(s_ / "good", stored(app_));
  EXPECT_FALSE(store_.blobs().remove_damaged(test::digest_of(app_), damaged.get()));
  EXPECT_EQ(test::read_text(stored(app_)), app_);
  EXPECT_TRUE(list_dir(store_.root() / "tmp").empty());

  UniqueFd good = fs::open_fd(stored(app_), O_RDONLY);
  EXPECT_TRUE(store_.blobs().remove_damaged(test::digest_of(app_), good.get())) << "it is what the caller read";
  EXPECT_FALSE(stdfs::exists(stored(app_)));
  EXPECT_TRUE(store_.blobs().remove_damaged(test::digest_of(app_), good.get())) << "taken out already";
}

}  // namespace
}  // namespace crt::store
