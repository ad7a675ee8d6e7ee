#include "store/oci.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::store::oci {
namespace {

using nlohmann::json;

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

json desc(const std::string& digest, const std::string& arch, const std::string& variant = "") {
  json p = {{"os", "linux"}, {"architecture", arch}};
  if (!variant.empty()) p["variant"] = variant;
  return {{"mediaType", kImageManifest}, {"digest", digest}, {"size", 10}, {"platform", p}};
}

TEST(Oci, ParsesAManifest) {
  json m = {{"schemaVersion", 2},
            {"mediaType", kImageManifest},
            {"config", {{"mediaType", kImageConfig}, {"digest", kA}, {"size", 3}}},
            {"layers", {{{"mediaType", kLayerGzip}, {"digest", kB}, {"size", 7}}}}};
  Manifest p = parse_manifest(m.dump());
  EXPECT_EQ(p.config.digest, kA);
  ASSERT_EQ(p.layers.size(), 1u);
  EXPECT_EQ(p.layers[0].media_type, kLayerGzip);
  EXPECT_EQ(p.layers[0].size, 7);
}

TEST(Oci, DockerSchema2IsAManifestToo) {
  json m = {{"schemaVersion", 2},
            {"mediaType", kDockerManifest},
            {"config", {{"mediaType", kDockerConfig}, {"digest", kA}, {"size", 3}}},
            {"layers", {{{"mediaType", kDockerLayerGzip}, {"digest", kB}, {"size", 7}}}}};
  EXPECT_EQ(parse_manifest(m.dump()).layers.size(), 1u);
}

TEST(Oci, RefusesWhatItCannotVerifyOrUnpack) {
  json m = {{"mediaType", kImageManifest},
            {"config", {{"mediaType", kImageConfig}, {"digest", "sha512:abc"}, {"size", 3}}},
            {"layers", json::array()}};
  EXPECT_THROW(parse_manifest(m.dump()), Error) << "only sha256 digests are checked, so only they are accepted";
  m["config"]["digest"] = kA;
  m["layers"] = {{{"mediaType", "application/x-foreign"}, {"digest", kB}, {"size", 1}}};
  EXPECT_THROW(parse_manifest(m.dump()), Error);
  EXPECT_THROW(parse_manifest("{not json"), Error);
  EXPECT_THROW(parse_manifest(R"({"schemaVersion":1,"fsLayers":[]})"), Error);
}

TEST(Oci, MediaTypeFromFieldsWhenNotDeclared) {
  EXPECT_EQ(document_media_type(json{{"manifests", json::array()}}), kImageIndex);
  EXPECT_EQ(document_media_type(json{{"config", json::object()}, {"layers", json::array()}}), kImageManifest);
}

TEST(Oci, SelectsTheHostPlatformSkippingAttestations) {
  Index ix;
  ix.manifests = {parse_index(json{{"manifests", {desc(kA, "arm64", "v8"), desc(kB, "amd64"), desc(kC, "unknown")}}}.dump()).manifests};
  EXPECT_EQ(select_platform(ix, {"linux", "amd64", ""}).digest, kB);
  EXPECT_EQ(select_platform(ix, {"linux", "arm64", "v8"}).digest, kA);
  EXPECT_EQ(select_platform(ix, {"linux", "arm64", ""}).digest, kA) << "an unnamed variant matches any";
  try {
    select_platform(ix, {"linux", "s390x", ""});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "no image for linux/s390x in the index (it has linux/arm64/v8, linux/amd64)");
  }
}

TEST(Oci, ExactVariantWins) {
  Index ix = parse_index(json{{"manifests", {desc(kA, "arm", "v6"), desc(kB, "arm", "v7")}}}.dump());
  EXPECT_EQ(select_platform(ix, {"linux", "arm", "v7"}).digest, kB);
  EXPECT_THROW(select_platform(ix, {"linux", "arm", "v5"}), Error);
}

// An index and a configuration come from a registry: what they say of
// themselves reaches the terminal without control characters.
TEST(Oci, PlatformsARegistryNamesAreEscapedInMessages) {
  Index ix = parse_index(json{{"manifests", {desc(kA, "arm\x1b]0;owned\x07")}}}.dump());
  std::string e = test::error_of([&] { select_platform(ix, {"linux", "s390x", ""}); });
  EXPECT_EQ(e, "no image for linux/s390x in the index (it has linux/arm\\x1b]0;owned\\x07)");
  Platform want = parse_platform("linux/amd64");
  e = test::error_of([&] { check_platform(json{{"os", "linux\x1b[2J"}, {"architecture", "arm"}}.dump(), want); });
  EXPECT_EQ(e, "the image is for linux\\x1b[2J/arm, not linux/amd64 as --platform asks");
}

TEST(Oci, Platforms) {
  Platform p = parse_platform("linux/arm64/v8");
  EXPECT_EQ(p.os, "linux");
  EXPECT_EQ(p.architecture, "arm64");
  EXPECT_EQ(p.variant, "v8");
  EXPECT_EQ(p.str(), "linux/arm64/v8");
  EXPECT_THROW(parse_platform("linux"), Error);
  EXPECT_EQ(host_platform().os, "linux");
}

TEST(Oci, DiffIdsOfAConfiguration) {
  EXPECT_EQ(config_diff_ids(json{{"rootfs", {{"diff_ids", {kA, kB}}}}}), (std::vector<std::string>{kA, kB}));
  EXPECT_THROW(config_diff_ids(json{{"rootfs", {{"diff_ids", {"md5:x"}}}}}), Error);
  EXPECT_THROW(config_diff_ids(json::object()), Error);
}

}  // namespace
}  // namespace crt::store::oci
