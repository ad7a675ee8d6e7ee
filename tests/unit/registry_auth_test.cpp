#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "common/error.hpp"
#include "registry/auth.hpp"
#include "test_support.hpp"

namespace crt::registry {
namespace {

TEST(WwwAuthenticate, BearerChallenge) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params.at("realm"), "https://auth.example/token");
  EXPECT_EQ(c[0].params.at("service"), "registry.example");
  EXPECT_EQ(c[0].params.at("scope"), "repository:a/b:pull");
}

TEST(WwwAuthenticate, SeveralChallengesTokensAndEscapes) {
  auto c = parse_www_authenticate(R"(Basic realm="a \"quoted\" realm", charset=UTF-8, Bearer realm=x,error=invalid_token)");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params.at("realm"), "a \"quoted\" realm");
  EXPECT_EQ(c[0].params.at("charset"), "UTF-8");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].params.at("realm"), "x");
  EXPECT_EQ(c[1].params.at("error"), "invalid_token");
  EXPECT_THROW(parse_www_authenticate(R"(Bearer realm="unterminated)"), Error);
}

TEST(Base64, RoundTrips) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "user:p@ss:w0rd", std::string("\0\xff", 2)})
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_THROW(base64_decode("abc"), Error);
}

TEST(Credentials, FromAuthFiles) {
  test::Scratch s;
  test::write_text(s / "auth.json", R"({"auths": {
    "reg.example": {"auth": "dXNlcjpwYXNz"},
    "https://other.example/v1/": {"auth": ")" + base64_encode("o:p") + R"("},
    "reg.example/team": {"auth": ")" + base64_encode("team:secret") + R"("}}})");
  auto c = credentials_from_file(s / "auth.json", "reg.example", "app");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "user");
  EXPECT_EQ(c->password, "pass");
  c = credentials_from_file(s / "auth.json", "reg.example", "team/app");
  EXPECT_EQ(c->username, "team") << "the most specific key wins";
  EXPECT_EQ(credentials_from_file(s / "auth.json", "other.example", "x")->password, "p");
  EXPECT_FALSE(credentials_from_file(s / "auth.json", "third.example", "x"));
  EXPECT_FALSE(credentials_from_file(s / "missing.json", "reg.example", "x"));
  test::write_text(s / "bad.json", "{");
  EXPECT_THROW(credentials_from_file(s / "bad.json", "reg.example", "x"), Error);
}

// docker login writes Docker Hub's credentials under its v1 index's URL.
TEST(Credentials, DockerHubsFromDockerLogin) {
  test::Scratch s;
  test::write_text(s / "config.json",
                   R"({"auths": {"https://index.docker.io/v1/": {"auth": ")" + base64_encode("hub:pw") + R"("}}})");
  auto c = credentials_from_file(s / "config.json", "docker.io", "me/private");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "hub");
  EXPECT_FALSE(credentials_from_file(s / "config.json", "index.docker.io.example", "x"));
}

// A system service (crt@.service, a pod's unit) has no HOME: root's
// `docker login` is found in its home all the same.
TEST(Credentials, AuthFilesInTheUsersHomeWithoutHome) {
  const passwd* pw = ::getpwuid(::getuid());
  ASSERT_NE(pw, nullptr);
  std::filesystem::path docker = std::filesystem::path(pw->pw_dir) / ".docker" / "config.json";
  for (const std::optional<std::string>& home : {std::optional<std::string>(), std::optional<std::string>("")}) {
    SCOPED_TRACE(home ? "empty" : "unset");
    test::ScopedEnv env("HOME", home);
    std::vector<std::filesystem::path> files = default_auth_files();
    EXPECT_NE(std::find(files.begin(), files.end(), docker), files.end());
  }
}

TEST(Credentials, FromTheCommandLine) {
  Credentials c = parse_creds("me:pa:ss");
  EXPECT_EQ(c.username, "me");
  EXPECT_EQ(c.password, "pa:ss");
  EXPECT_THROW(parse_creds("nopassword"), Error);
}

}  // namespace
}  // namespace crt::registry
