#include "store/digest.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace crt::store {
namespace {

TEST(Digest, KnownVectors) {
  EXPECT_EQ(sha256_digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_digest("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, IncrementalEqualsOneShot) {
  Sha256 h;
  h.update("a");
  h.update(std::string_view("bc"));
  EXPECT_EQ("sha256:" + h.hex(), sha256_digest("abc"));
}

TEST(Digest, BinaryDataWithNulBytes) {
  std::string data("a\0b", 3);
  EXPECT_NE(sha256_digest(data), sha256_digest("a"));
}

TEST(Digest, IsSha256Digest) {
  std::string hex(64, 'a');
  EXPECT_TRUE(is_sha256_digest("sha256:" + hex));
  EXPECT_FALSE(is_sha256_digest(hex));
  EXPECT_FALSE(is_sha256_digest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(is_sha256_digest("sha256:" + std::string(65, 'a')));
  EXPECT_FALSE(is_sha256_digest("sha256:" + std::string(64, 'A'))) << "uppercase hex";
  EXPECT_FALSE(is_sha256_digest("sha256:" + std::string(63, 'a') + "g"));
  EXPECT_FALSE(is_sha256_digest("sha512:" + hex));
}

TEST(Digest, DigestHex) {
  std::string hex(64, '0');
  EXPECT_EQ(digest_hex("sha256:" + hex), hex);
  EXPECT_THROW(digest_hex("sha256:../../etc"), Error);
  EXPECT_THROW(digest_hex(hex), Error);
}

}  // namespace
}  // namespace crt::store
