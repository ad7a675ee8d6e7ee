#include "store/image.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_text.hpp"

namespace crt::store {
namespace {

using nlohmann::json;
using Strings = std::vector<std::string>;

TEST(ParseRunConfig, EveryField) {
  json j = crt::json_text::parse(R"({
    "architecture": "amd64",
    "config": {
      "Entrypoint": ["/bin/sh", "-c"],
      "Cmd": ["echo $HOME"],
      "Env": ["PATH=/bin", "A=b=c"],
      "User": "1000:100",
      "WorkingDir": "/srv",
      "Labels": {"org.example": "yes"},
      "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
      "Volumes": {"/data": {}},
      "StopSignal": "SIGQUIT"
    }})");
  RunConfig r = parse_run_config(j);
  EXPECT_EQ(r.entrypoint, (Strings{"/bin/sh", "-c"}));
  EXPECT_EQ(r.cmd, (Strings{"echo $HOME"}));
  EXPECT_EQ(r.env, (Strings{"PATH=/bin", "A=b=c"}));
  EXPECT_EQ(r.user, "1000:100");
  EXPECT_EQ(r.working_dir, "/srv");
  EXPECT_EQ(r.labels, (std::map<std::string, std::string>{{"org.example", "yes"}}));
  EXPECT_EQ(r.exposed_ports, (Strings{"53/udp", "80/tcp"}));
  EXPECT_EQ(r.volumes, (Strings{"/data"}));
  EXPECT_EQ(r.stop_signal, "SIGQUIT");
}

TEST(ParseRunConfig, MissingOrNullConfigIsEmpty) {
  for (const char* text : {"{}", R"({"config": null})", R"({"config": {}})",
                           R"({"config": {"Cmd": null, "Entrypoint": null, "User": null, "Labels": null}})"}) {
    RunConfig r = parse_run_config(crt::json_text::parse(text));
    EXPECT_TRUE(r.entrypoint.empty() && r.cmd.empty() && r.env.empty() && r.user.empty() && r.labels.empty())
        << text;
  }
}

TEST(ParseRunConfig, WrongTypesAreCrtErrors) {
  EXPECT_THROW(parse_run_config(crt::json_text::parse(R"({"config": {"Cmd": "echo hi"}})")), Error);
  EXPECT_THROW(parse_run_config(crt::json_text::parse(R"({"config": {"Env": [1]}})")), Error);
  EXPECT_THROW(parse_run_config(crt::json_text::parse(R"({"config": {"User": 0}})")), Error);
  EXPECT_THROW(parse_run_config(crt::json_text::parse(R"({"config": {"Labels": {"a": 1}}})")), Error);
}

TEST(ParseRunConfig, AWrongTypeIsNamedByItsField) {
  try {
    parse_run_config(crt::json_text::parse(R"({"config": {"Labels": {"version": 2}}})"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid image configuration: config.Labels: type must be string, but is number");
  }
}

TEST(ForeignPlatform, NamesAPlatformOtherThanTheMachines) {
  auto platform = [](const std::string& text) {
    return foreign_platform(parse_run_config(crt::json_text::parse(text)));
  };
  EXPECT_EQ(platform(R"({"os": "linux", "architecture": ")" + host_architecture() + R"("})"), std::nullopt);
  EXPECT_EQ(platform("{}"), std::nullopt);
  EXPECT_EQ(platform(R"({"os": "linux", "architecture": "s390x"})"), "linux/s390x");
  EXPECT_EQ(platform(R"({"architecture": "arm", "variant": "v7"})"), "linux/arm/v7");
  EXPECT_EQ(platform(R"({"os": "windows"})"), "windows");
}

TEST(MakeImageConfig, HoldsRunConfigDiffIdsAndCreated) {
  RunConfig r;
  r.entrypoint = {"/bin/sh"};
  r.cmd = {"-c", "true"};
  r.env = {"A=1"};
  r.user = "nobody";
  r.working_dir = "/w";
  r.labels = {{"k", "v"}};
  r.stop_signal = "SIGINT";
  json j = make_image_config(r, {"sha256:aa", "sha256:bb"}, "2024-01-02T03:04:05Z");
  EXPECT_EQ(j["os"], "linux");
  EXPECT_EQ(j["created"], "2024-01-02T03:04:05Z");
  EXPECT_EQ(j["rootfs"]["type"], "layers");
  EXPECT_EQ(j["rootfs"]["diff_ids"], json({"sha256:aa", "sha256:bb"}));
  RunConfig back = parse_run_config(j);
  EXPECT_EQ(back.entrypoint, r.entrypoint);
  EXPECT_EQ(back.cmd, r.cmd);
  EXPECT_EQ(back.env, r.env);
  EXPECT_EQ(back.user, r.user);
  EXPECT_EQ(back.working_dir, r.working_dir);
  EXPECT_EQ(back.labels, r.labels);
  EXPECT_EQ(back.stop_signal, r.stop_signal);
}

TEST(MakeImageConfig, EmptyFieldsAreLeftOut) {
  json j = make_image_config(RunConfig{}, {}, "t");
  EXPECT_EQ(j["config"], json::object());
}

TEST(MakeImageConfig, SameInputSameBytes) {
  RunConfig r;
  r.cmd = {"x"};
  EXPECT_EQ(make_image_config(r, {"sha256:aa"}, "t").dump(), make_image_config(r, {"sha256:aa"}, "t").dump());
}

// The store keeps an image's RunConfig only in this document; whatever it
// leaves out is lost on the next Store::find().
TEST(MakeImageConfig, ExposedPortsAndVolumesSurviveARoundTrip) {
  RunConfig r;
  r.exposed_ports = {"80/tcp"};
  r.volumes = {"/data"};
  RunConfig back = parse_run_config(make_image_config(r, {}, "t"));
  EXPECT_EQ(back.exposed_ports, r.exposed_ports);
  EXPECT_EQ(back.volumes, r.volumes);
}

TEST(ImageJson, RoundTrip) {
  Image im;
  im.id = "sha256:" + std::string(64, 'a');
  im.names = {"busybox:latest", "bb:1"};
  im.layers = {"sha256:" + std::string(64, 'b')};
  im.size = 12345678901ULL;
  im.created = "2024-01-01T00:00:00Z";
  json j = im;
  Image back = j.get<Image>();
  EXPECT_EQ(back.id, im.id);
  EXPECT_EQ(back.names, im.names);
  EXPECT_EQ(back.layers, im.layers);
  EXPECT_EQ(back.size, im.size);
  EXPECT_EQ(back.created, im.created);
  EXPECT_FALSE(j.contains("config")) << "the configuration lives in its blob";
}

TEST(ParseReference, NameAndTag) {
  Reference r = parse_reference("busybox");
  EXPECT_EQ(r.name, "busybox");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.str(), "busybox:latest");
  EXPECT_EQ(parse_reference("busybox:1.36").str(), "busybox:1.36");
  EXPECT_EQ(parse_reference("docker.io/library/nginx:1.25-alpine").name, "docker.io/library/nginx");
  EXPECT_EQ(parse_reference("docker.io/library/nginx:1.25-alpine").tag, "1.25-alpine");
}

TEST(ParseReference, RegistryPortIsNotATag) {
  Reference r = parse_reference("localhost:5000/foo");
  EXPECT_EQ(r.name, "localhost:5000/foo");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(parse_reference("localhost:5000/foo:v2").tag, "v2");
}

TEST(ParseReference, TagMayHoldUppercase) { EXPECT_EQ(parse_reference("a:V1_x.Y-z").tag, "V1_x.Y-z"); }

TEST(ParseReference, InvalidReferencesThrow) {
  for (const char* bad :
       {"",       ":tag", "busybox:",    "Busybox", "-busybox",    ".hidden",       "_x",        "a b",
        "a%b",    "a$b",  "caf\xc3\xa9", "a:b c",   "a:\xc3\xa9",  "a\nb",          "x:tag:tag", "a/../../b:1",
        "a//b:1", "a/",   "a/.b",        "a/b-",    "host:port/a", "a/host:5000/b", "a.:1",      "a___b",
        "a._b",   "a_-b", "x/a-.b",      "a..b:1"})
    EXPECT_THROW(parse_reference(bad), Error) << bad;
  for (const char* ok :
       {"my_app/web-1.2:3", "registry.example:5000/team/app", "a__b/c--d", "localhost/x:y", "a.b_c__d"})
    EXPECT_NO_THROW(parse_reference(ok)) << ok;
}

// The one split of a registry's HOST[:PORT], for the store's names and
// registry references alike.
TEST(SplitHostPort, APortIsDigitsAfterTheColon) {
  std::optional<HostPort> hp = split_host_port("reg.example:5000");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "reg.example");
  EXPECT_EQ(hp->port, "5000");
  hp = split_host_port("localhost");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "localhost");
  EXPECT_EQ(hp->port, "");
  for (const char* bad : {"reg:", "reg:http", "reg:5000:1", "reg:50 0", ":"}) EXPECT_FALSE(split_host_port(bad)) << bad;
}

TEST(ParseReference, WhatReadsAsAnIdIsNoName) {
  EXPECT_THROW(parse_reference("sha256:abcd"), Error);
  EXPECT_THROW(parse_reference("sha256"), Error);
  EXPECT_THROW(parse_reference(std::string(64, 'a')), Error);
  EXPECT_NO_THROW(parse_reference(std::string(63, 'a')));
  EXPECT_NO_THROW(parse_reference("x/sha256:1"));
}

TEST(ParseReference, TagsStartWithALetterDigitOrUnderscore) {
  EXPECT_THROW(parse_reference("a/b:.tag"), Error);
  EXPECT_THROW(parse_reference("a/b:-tag"), Error);
  EXPECT_NO_THROW(parse_reference("a/b:_tag"));
  EXPECT_NO_THROW(parse_reference("a/b:T.a-g"));
}

TEST(ParseReference, NamesAreAtMost255Characters) {
  EXPECT_NO_THROW(parse_reference(std::string(255, 'a')));
  EXPECT_THROW(parse_reference(std::string(256, 'a')), Error);
}

TEST(ParseReference, TagLengthLimitIs128) {
  EXPECT_NO_THROW(parse_reference("a:" + std::string(128, 't')));
  EXPECT_THROW(parse_reference("a:" + std::string(129, 't')), Error);
}

TEST(BaseName, LastComponentWithoutTagOrDigest) {
  EXPECT_EQ(base_name("docker.io/library/nginx:1"), "nginx");
  EXPECT_EQ(base_name("busybox"), "busybox");
  EXPECT_EQ(base_name("busybox:latest"), "busybox");
  EXPECT_EQ(base_name("localhost:5000/foo"), "foo");
  EXPECT_EQ(base_name("localhost:5000/foo:1"), "foo");
  EXPECT_EQ(base_name("quay.io/a/b@sha256:0123"), "b");
}

// An Env entry without a name no run could set: refused; one without '='
// (left out at run) or with a name systemd cannot pass (the run refused)
// is warned of, naming the image and the entry.
TEST(ImageEnv, EntriesARunCannotTakeAsTheyAreAreSaid) {
  RunConfig r;
  r.env = {"PATH=/bin", "A=b=c", "_x1=", "FOO", "my.var=1", "9LIVES=1"};
  EXPECT_NO_THROW(check_env(r));
  EXPECT_EQ(env_warnings(r, "image 'x:1'"),
            (Strings{"warning: image 'x:1' has 'FOO' in its Env, without '=' or a value: crt run leaves the variable "
                     "out (unset), as docker does",
                     "warning: image 'x:1' sets the environment variable 'my.var' (its Env), which systemd cannot give "
                     "an app (a variable name holds letters, digits and '_'): crt run refuses the image",
                     "warning: image 'x:1' sets the environment variable '9LIVES' (its Env), which systemd cannot give "
                     "an app (a variable name cannot start with a digit): crt run refuses the image"}));
  for (const char* bad : {"=1", "", "="}) {
    r.env = {"PATH=/bin", bad};
    EXPECT_THROW(check_env(r), Error) << bad;
  }
}

}  // namespace
}  // namespace crt::store
