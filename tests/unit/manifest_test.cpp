#include "pod/manifest.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "test_support.hpp"

namespace crt::pod {
namespace {

using nlohmann::json;
using Strings = std::vector<std::string>;

PodManifest hostile_pod() {
  PodManifest m;
  m.uuid = "0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f";
  m.created = "2024-01-01T00:00:00Z";
  m.crt_version = "0.1.0";
  m.stage1 = {"crt-stage1:dir", "sha256:" + std::string(64, 'a'), {"sha256:" + std::string(64, 'b')}};
  m.net = "none";
  m.hostname = "pod-1";
  m.interactive = true;
  m.exit_policy = "on-any-exit";
  AppManifest a;
  a.name = "web";
  a.image = {"docker.io/library/nginx:1", "sha256:" + std::string(64, 'c'), {"sha256:" + std::string(64, 'd')}};
  a.argv = {"/bin/sh", "-c", "echo \"$HOME\" 100% 'x'\n\t\\", "", "caf\xc3\xa9"};
  a.exec_path = "/usr/bin/my app";
  a.env = {{"A", "b=c;d"}, {"EMPTY", ""}, {"NL", "x\ny"}};
  a.user = "nobody";
  a.group = "nogroup";
  a.uid = 65534;
  a.gid = 4294967294U;
  a.working_dir = "/-dir/.dot";
  a.memory_max = 18446744073709551615ULL;
  a.cpu_millis = 1;
  a.seccomp = {false, {"@mount", "reboot"}, "EACCES", {}};
  a.capabilities = {"CAP_CHOWN"};
  m.apps = {a, a};
  m.apps[1].name = "second";
  m.apps[1].uid.reset();
  m.apps[1].gid.reset();
  m.apps[1].memory_max.reset();
  m.apps[1].cpu_millis.reset();
  m.apps[1].capabilities.clear();
  return m;
}

void expect_same(const AppManifest& a, const AppManifest& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.image.name, b.image.name);
  EXPECT_EQ(a.image.id, b.image.id);
  EXPECT_EQ(a.image.layers, b.image.layers);
  EXPECT_EQ(a.argv, b.argv);
  EXPECT_EQ(a.exec_path, b.exec_path);
  EXPECT_EQ(a.env, b.env);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.working_dir, b.working_dir);
  EXPECT_EQ(a.memory_max, b.memory_max);
  EXPECT_EQ(a.cpu_millis, b.cpu_millis);
  EXPECT_EQ(a.seccomp.allow_list, b.seccomp.allow_list);
  EXPECT_EQ(a.seccomp.entries, b.seccomp.entries);
  EXPECT_EQ(a.seccomp.error_number, b.seccomp.error_number);
  EXPECT_EQ(a.capabilities, b.capabilities);
}

TEST(Manifest, RoundTripKeepsEveryField) {
  PodManifest m = hostile_pod();
  PodManifest back = parse_manifest(serialize(m));
  EXPECT_EQ(back.uuid, m.uuid);
  EXPECT_EQ(back.created, m.created);
  EXPECT_EQ(back.crt_version, m.crt_version);
  EXPECT_EQ(back.stage1.name, m.stage1.name);
  EXPECT_EQ(back.stage1.id, m.stage1.id);
  EXPECT_EQ(back.stage1.layers, m.stage1.layers);
  EXPECT_EQ(back.net, m.net);
  EXPECT_EQ(back.hostname, m.hostname);
  EXPECT_EQ(back.interactive, m.interactive);
  EXPECT_EQ(back.exit_policy, m.exit_policy);
  ASSERT_EQ(back.apps.size(), 2u);
  expect_same(back.apps[0], m.apps[0]);
  expect_same(back.apps[1], m.apps[1]);
}

TEST(Manifest, TheUnsyncedBootIsKeptAndLeftOutWhenThereIsNone) {
  PodManifest m = hostile_pod();
  EXPECT_FALSE(crt::json_text::parse(serialize(m)).contains("unsynced_boot"));
  EXPECT_EQ(parse_manifest(serialize(m)).unsynced_boot, "");
  m.unsynced_boot = "8d3f0e52-4b8c-4a52-9f3e-3b6a0c1d2e4f";
  EXPECT_EQ(parse_manifest(serialize(m)).unsynced_boot, m.unsynced_boot);
}

TEST(Manifest, TheStopTimeoutOfTheLastStartIsKept) {
  PodManifest m = hostile_pod();
  EXPECT_FALSE(parse_manifest(serialize(m)).stop_timeout.has_value());
  m.stop_timeout = std::chrono::milliseconds(45500);
  EXPECT_EQ(parse_manifest(serialize(m)).stop_timeout, std::chrono::milliseconds(45500));
}

TEST(Manifest, TheAppsSystemCallArchitecturesAreKeptAndLeftOutWhenThereAreNone) {
  PodManifest m = hostile_pod();
  EXPECT_FALSE(crt::json_text::parse(serialize(m)).contains("syscall_architectures"));
  EXPECT_TRUE(parse_manifest(serialize(m)).syscall_architectures.empty());
  m.syscall_architectures = {"native", "x32"};
  EXPECT_EQ(parse_manifest(serialize(m)).syscall_architectures, m.syscall_architectures);
}

TEST(Manifest, TheNamespacesAnAppMayMakeAreKeptAndDefaultForAnOldManifest) {
  PodManifest m = hostile_pod();
  m.apps[0].capabilities = {"CAP_CHOWN"};
  m.apps[0].allowed_namespaces = std::vector<std::string>{"user", "net"};
  m.apps[1].allowed_namespaces = std::nullopt;
  json j = crt::json_text::parse(serialize(m));
  EXPECT_EQ(j["apps"][0]["allowed_namespaces"], json({"user", "net"}));
  EXPECT_EQ(j["apps"][1]["allowed_namespaces"], "all");
  PodManifest back = parse_manifest(j.dump());
  EXPECT_EQ(back.apps[0].allowed_namespaces, m.apps[0].allowed_namespaces);
  EXPECT_EQ(back.apps[1].allowed_namespaces, std::nullopt);
  // A pod prepared before the setting: what its capabilities give today.
  j["apps"][0].erase("allowed_namespaces");
  EXPECT_EQ(parse_manifest(j.dump()).apps[0].allowed_namespaces, std::vector<std::string>{});
}

TEST(Manifest, AnInteractivePodKeepsWhetherItHasATerminal) {
  PodManifest m = hostile_pod();
  m.interactive_tty = false;
  EXPECT_FALSE(parse_manifest(serialize(m)).interactive_tty);
  // Manifests from before pods without a terminal had one.
  json j = crt::json_text::parse(serialize(m));
  j.erase("interactive_tty");
  EXPECT_TRUE(parse_manifest(j.dump()).interactive_tty);
  m.interactive = false;
  EXPECT_FALSE(crt::json_text::parse(serialize(m)).contains("interactive_tty"));
}

TEST(Manifest, WhetherATerminalsOutputWentToTheJournalIsKept) {
  PodManifest m = hostile_pod();
  EXPECT_FALSE(crt::json_text::parse(serialize(m)).contains("terminal_to_journal"));
  EXPECT_FALSE(parse_manifest(serialize(m)).terminal_to_journal);
  m.terminal_to_journal = true;
  EXPECT_TRUE(parse_manifest(serialize(m)).terminal_to_journal);
}

TEST(Manifest, ARemovalAtTheEndIsKeptAndLeftOutWhenNotAsked) {
  PodManifest m = hostile_pod();
  EXPECT_FALSE(crt::json_text::parse(serialize(m)).contains("remove_at_end"));
  EXPECT_FALSE(parse_manifest(serialize(m)).remove_at_end);
  m.remove_at_end = true;
  EXPECT_TRUE(parse_manifest(serialize(m)).remove_at_end);
}

TEST(Manifest, SerializationIsStableAndEndsWithNewline) {
  PodManifest m = hostile_pod();
  std::string text = serialize(m);
  EXPECT_EQ(text, serialize(parse_manifest(text)));
  EXPECT_EQ(text.back(), '\n');
}

TEST(Manifest, UnsetOptionalsAreLeftOut) {
  json j = crt::json_text::parse(serialize(hostile_pod()));
  const json& second = j["apps"][1];
  for (const char* key : {"uid", "gid", "memory_max", "cpu_millis"}) EXPECT_FALSE(second.contains(key)) << key;
  EXPECT_TRUE(j["apps"][0].contains("uid"));
}

TEST(Manifest, EnvironmentIsAnOrderedListOfNameValuePairs) {
  json j = crt::json_text::parse(serialize(hostile_pod()));
  EXPECT_EQ(j["apps"][0]["env"][0], json({{"name", "A"}, {"value", "b=c;d"}}));
  EXPECT_EQ(j["apps"][0]["seccomp"]["mode"], "remove");
  EXPECT_EQ(j["apps"][0]["seccomp"]["errno"], "EACCES");
}

TEST(Manifest, InvalidTextIsACrtError) {
  EXPECT_THROW(parse_manifest("not json"), Error);
  EXPECT_THROW(parse_manifest("{}"), Error);
  json j = crt::json_text::parse(serialize(hostile_pod()));
  j["apps"][0].erase("argv");
  EXPECT_THROW(parse_manifest(j.dump()), Error);
  j = crt::json_text::parse(serialize(hostile_pod()));
  j["apps"][0]["uid"] = "0";
  EXPECT_THROW(parse_manifest(j.dump()), Error);
  j = crt::json_text::parse(serialize(hostile_pod()));
  j["interactive"] = "yes";
  EXPECT_THROW(parse_manifest(j.dump()), Error);
}

TEST(Manifest, NullOptionalIsUnset) {
  json j = crt::json_text::parse(serialize(hostile_pod()));
  j["apps"][0]["memory_max"] = nullptr;
  EXPECT_FALSE(parse_manifest(j.dump()).apps[0].memory_max);
}

// A misspelt seccomp mode must not turn an allow list into a deny list.
TEST(Manifest, UnknownSeccompModeIsAnError) {
  json j = crt::json_text::parse(serialize(hostile_pod()));
  j["apps"][0]["seccomp"]["mode"] = "Retain";
  EXPECT_THROW(parse_manifest(j.dump()), Error);
}

// JSON strings are UTF-8, so an argument or variable that is not cannot be
// recorded; that is a user error to report as one.
TEST(Manifest, InvalidUtfEightIsACrtError) {
  PodManifest m = hostile_pod();
  m.apps[0].argv = {"/bin/echo", "\xff"};
  EXPECT_THROW(serialize(m), Error);
}

TEST(Manifest, MachineName) { EXPECT_EQ(hostile_pod().machine_name(), "crt-0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f"); }

TEST(Manifest, AppDefaults) {
  AppManifest a;
  EXPECT_EQ(a.user, "0");
  EXPECT_EQ(a.group, "");
  EXPECT_EQ(a.working_dir, "/");
  EXPECT_FALSE(a.uid);
  PodManifest p;
  EXPECT_EQ(p.net, "default");
  EXPECT_EQ(p.exit_policy, "on-any-failure");
}

TEST(ValidateAppName, Valid) {
  for (const std::string& name : std::vector<std::string>{"web", "a", "0", "a-b", "9lives", "x-", std::string(63, 'a')})
    EXPECT_NO_THROW(validate_app_name(name)) << name;
}

TEST(ValidateAppName, Invalid) {
  for (const std::string& name :
       std::vector<std::string>{"", std::string(64, 'a'), "Web", "a_b", "a.b", "a b", "-a", "a/b", "a@b", "caf\xc3\xa9",
                                "a\nb", "systemd-journald", "systemd-", "..", "a%i", "$x", "pod-reboot"})
    EXPECT_THROW(validate_app_name(name), Error) << name;
}

TEST(ValidateAppName, MessageNamesTheProblem) {
  try {
    validate_app_name("Web");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid app name 'Web': only lowercase letters, digits and '-' are allowed");
  }
}

TEST(HostName, FollowsSystemdsRules) {
  for (const std::string& ok :
       std::vector<std::string>{"a", "web-1", "Web.Example.org", "0pod", "a-b.c-d", std::string(64, 'x')})
    EXPECT_NO_THROW(validate_host_name("pod name", ok)) << ok;
  for (const std::string& bad : std::vector<std::string>{"", "a_b", "-a", ".a", "a.", "a..b", "a.-b", "a-.b", "a-",
                                                         "a b", "\xc3\xa4", std::string(65, 'x')})
    EXPECT_THROW(validate_host_name("pod name", bad), Error) << bad;
}

TEST(PodName, NeverReadsAsAUuidPrefix) {
  for (const std::string& ok : std::vector<std::string>{"web", "db1x", "g", "cafe.example", "a-b-c-x"})
    EXPECT_NO_THROW(validate_pod_name(ok)) << ok;
  for (const std::string& bad :
       std::vector<std::string>{"db", "a", "0", "cafe", "DB", "dead-beef", "1234-5678", "abc-def0"})
    EXPECT_THROW(validate_pod_name(bad), Error) << bad;
  EXPECT_THROW(validate_pod_name("a_b"), Error) << "a host name first";
  try {
    validate_pod_name("db");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "invalid pod name 'db': a name of only hex digits and '-' would read as a pod's UUID (or the "
                 "start of one)");
  }
}

TEST(PodName, NeverReadsAsAnUnnamedPodsMachineName) {
  for (const std::string& ok : std::vector<std::string>{"crt-web", "crt-0123456789abcdef0123456789abcde",
                                                        "web-0123456789abcdef0123456789abcdef"})
    EXPECT_NO_THROW(validate_pod_name(ok)) << ok;
  for (const std::string& bad :
       std::vector<std::string>{"crt-0123456789abcdef0123456789abcdef", "crt-01234567-89ab-cdef-0123-456789abcdef"})
    EXPECT_EQ(test::error_of([&] { validate_pod_name(bad); }),
              "pod name '" + bad +
                  "' has the form of the machine names crt gives pods without a name (crt-UUID); choose another");
}

}  // namespace
}  // namespace crt::pod
