#include <gtest/gtest.h>

#include "common/error.hpp"
#include "registry/reference.hpp"
#include "test_support.hpp"

namespace crt::registry {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'e');

TEST(RemoteReference, FullNames) {
  auto r = parse_remote_reference("127.0.0.1:5000/test/app:v1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "test/app");
  EXPECT_EQ(r->tag, "v1");
  EXPECT_EQ(r->reference(), "v1");
  EXPECT_EQ(r->store_name()->str(), "127.0.0.1:5000/test/app:v1");

  r = parse_remote_reference("quay.io/x/y");
  EXPECT_EQ(r->tag, "latest");
  r = parse_remote_reference("localhost/app");
  EXPECT_EQ(r->registry, "localhost");
  r = parse_remote_reference("docker.io/busybox");
  EXPECT_EQ(r->repository, "library/busybox") << "Docker Hub's official images";
  EXPECT_EQ(api_host(r->registry), "registry-1.docker.io");
}

TEST(RemoteReference, Digests) {
  auto r = parse_remote_reference("reg.example.org/app@" + kDigest);
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, kDigest);
  EXPECT_EQ(r->reference(), kDigest);
  EXPECT_FALSE(r->store_name()) << "a digest alone names no tag";
  r = parse_remote_reference("reg.example.org/app:v2@" + kDigest);
  EXPECT_EQ(r->tag, "v2");
  EXPECT_EQ(r->reference(), kDigest) << "the digest pins what is fetched";
  EXPECT_EQ(r->str(), "reg.example.org/app:v2@" + kDigest);
  EXPECT_FALSE(r->store_name()) << "the tag would name content it may not have: ignored, as Docker ignores it";
}

TEST(RemoteReference, ShortNamesAreNotGuessed) {
  EXPECT_FALSE(parse_remote_reference("busybox"));
  EXPECT_FALSE(parse_remote_reference("library/busybox:1"));
  auto c = qualify_short_name("app:1", {"a.example", "127.0.0.1:5000"});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].str(), "a.example/app:1");
  EXPECT_EQ(c[1].str(), "127.0.0.1:5000/app:1");
}

TEST(RemoteReference, InvalidOnesAreRefused) {
  for (const char* bad : {"reg.io/UPPER", "reg.io/a//b", "reg.io/a:", "reg.io/a@sha256:12", "reg.io/-a", "reg.io/a..b",
                          "reg.io/a:-tag", "re g.io/a", "-reg.io/a", "reg..io/a", "reg.io:http/a", "reg.io:5000:1/a",
                          "reg.io/a___b", "reg.io/a._b", "reg.io/a_-b", "reg.io/a-_b", "reg.io/a-.b"})
    EXPECT_THROW(parse_remote_reference(bad), Error) << bad;
  // The distribution spec's separators: '.', '_', '__', or '-' runs.
  for (const char* good : {"reg.io/a.b", "reg.io/a_b", "reg.io/a__b", "reg.io/a---b", "reg.io/a-b.c_d__e"})
    EXPECT_NO_THROW(parse_remote_reference(good)) << good;
}

// What a pull stores, `crt run` and `crt image rm` must find by the same name.
TEST(RemoteReference, TheRegistryIsNamedAsTheStoreNamesIt) {
  for (const char* ref : {"Reg.Example/app", "REG.example:5000/team/app:V1", "localhost/app"}) {
    SCOPED_TRACE(ref);
    auto r = parse_remote_reference(ref);
    ASSERT_TRUE(r);
    EXPECT_NO_THROW(store::parse_reference(r->store_name()->str()));
  }
  EXPECT_EQ(parse_remote_reference("Reg.Example:5000/app:V1")->str(), "reg.example:5000/app:V1")
      << "the host is lowercased, the tag is as given";
  std::string e = test::error_of([] { parse_remote_reference("[::1]:5000/app"); });
  EXPECT_EQ(e,
            "invalid image reference '[::1]:5000/app': a registry named by its IPv6 address ('[::1]:5000') is not "
            "supported: give it a host name (/etc/hosts)");
}

TEST(RemoteReference, DockerHubsOtherNamesAreDockerIo) {
  for (const char* ref :
       {"index.docker.io/busybox", "registry-1.docker.io/busybox:latest", "Index.Docker.IO/busybox"}) {
    SCOPED_TRACE(ref);
    auto r = parse_remote_reference(ref);
    EXPECT_EQ(r->str(), "docker.io/library/busybox:latest");
  }
  EXPECT_EQ(parse_remote_reference("index.docker.io/me/app")->name(), "docker.io/me/app");
  EXPECT_EQ(parse_remote_reference("index.docker.io.example/app")->registry, "index.docker.io.example");
}

}  // namespace
}  // namespace crt::registry
