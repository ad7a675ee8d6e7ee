#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "net/config.hpp"
#include "net/plugin.hpp"
#include "net/pod_network.hpp"
#include "test_support.hpp"

namespace crt::net {
namespace {

using nlohmann::json;
using test::read_text;
using test::Scratch;
using test::write_text;

/// A plugin that logs how it was called (environment and stdin) to
/// LOG/<n>-<name> and prints what its name asks for.
const char* const kFakePlugin = R"SH(#!/bin/sh
dir=$(dirname "$0")
n=$(ls "$dir/../log" | wc -l)
log="$dir/../log/$n-$(basename "$0")"
echo "$CNI_COMMAND|$CNI_CONTAINERID|$CNI_NETNS|$CNI_IFNAME|$CNI_ARGS|$CNI_PATH" > "$log"
cat >> "$log"
case $(basename "$0") in
  fail) echo '{"cniVersion":"1.0.0","code":7,"msg":"bad config","details":"no subnet"}'; exit 1 ;;
  crash) echo 'panic: runtime error' >&2; echo 'goroutine 1' >&2; exit 2 ;;
  garbage) echo 'not json'; exit 0 ;;
esac
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"veth1"},{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.0.0.2/24","gateway":"10.0.0.1","interface":1}],"dns":{"nameservers":["10.0.0.53"]}}'
fi
)SH";

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"first", "second", "fail", "crash", "garbage"})
      write_text(s_ / "bin" / name, kFakePlugin, 0755);
    std::filesystem::create_directories(s_ / "log");
    inv_ = {"crt-1234", "/proc/1/fd/3", "eth0", "IP=10.0.0.9", {s_ / "nothing", s_ / "bin"}};
  }
  std::vector<std::string> calls() { return test::list_dir(s_ / "log"); }
  std::string call(const std::string& name) { return read_text(s_ / "log" / name); }
  json config_of(const std::string& name) {
    std::string text = call(name);
    return crt::json_text::parse(text.substr(text.find('\n') + 1));
  }

  Scratch s_;
  Invocation inv_;
};

NetworkConfig list(std::vector<std::string> types, std::string version = "1.0.0") {
  NetworkConfig n;
  n.name = "testnet";
  n.cni_version = std::move(version);
  for (const auto& t : types) n.plugins.push_back({{"type", t}});
  return n;
}

TEST_F(PluginTest, AddRunsThePluginsInOrderAndChainsResults) {
  NetworkConfig n = list({"first", "second"});
  n.plugins[1]["capabilities"] = {{"portMappings", true}};
  json rc = {{"portMappings", json::array({{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}})},
             {"bandwidth", json::object()}};
  json result = add_network(n, inv_, rc);
  EXPECT_EQ(result["ips"][0]["address"], "10.0.0.2/24");
  ASSERT_EQ(calls(), (std::vector<std::string>{"0-first", "1-second"}));
  std::string env = call("0-first").substr(0, call("0-first").find('\n'));
  // IgnoreUnknown=1: plugins that do not know IP= (all but host-local) go on.
  EXPECT_EQ(env, "ADD|crt-1234|/proc/1/fd/3|eth0|IgnoreUnknown=1;IP=10.0.0.9|" + (s_ / "nothing").string() + ":" +
                     (s_ / "bin").string());
  json c0 = config_of("0-first");
  EXPECT_EQ(c0["name"], "testnet");
  EXPECT_EQ(c0["cniVersion"], "1.0.0");
  EXPECT_FALSE(c0.contains("prevResult"));
  EXPECT_FALSE(c0.contains("runtimeConfig")) << "only plugins declaring the capability get it";
  json c1 = config_of("1-second");
  EXPECT_EQ(c1["prevResult"]["ips"][0]["address"], "10.0.0.2/24");
  EXPECT_EQ(c1["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
  EXPECT_FALSE(c1["runtimeConfig"].contains("bandwidth"));
}

TEST_F(PluginTest, TheUsersIgnoreUnknownIsKeptAndNoArgumentsStayNone) {
  auto args_of = [&](const std::string& args) {
    for (const auto& f : calls()) std::filesystem::remove(s_ / "log" / f);
    inv_.args = args;
    add_network(list({"first"}), inv_, json::object());
    std::string line = call("0-first").substr(0, call("0-first").find('\n'));
    return line.substr(0, line.rfind('|')).substr(line.find("eth0|") + 5);
  };
  EXPECT_EQ(args_of("IP=10.0.0.9;IgnoreUnknown=0"), "IP=10.0.0.9;IgnoreUnknown=0");
  EXPECT_EQ(args_of("IgnoreUnknown=true"), "IgnoreUnknown=true");
  EXPECT_EQ(args_of("MyIgnoreUnknown=1"), "IgnoreUnknown=1;MyIgnoreUnknown=1");
  EXPECT_EQ(args_of(""), "");
}

TEST_F(PluginTest, DelRunsThePluginsInReverseWithTheAddResult) {
  NetworkConfig n = list({"first", "second"});
  json prev = {{"cniVersion", "1.0.0"}, {"ips", json::array()}};
  del_network(n, inv_, json::object(), prev);
  ASSERT_EQ(calls(), (std::vector<std::string>{"0-second", "1-first"}));
  EXPECT_EQ(call("0-second").substr(0, 4), "DEL|");
  EXPECT_EQ(config_of("1-first")["prevResult"], prev);
}

TEST_F(PluginTest, OlderVersionsGetNoPrevResultWhereTheSpecHadNone) {
  json prev = {{"cniVersion", "0.3.1"}};
  del_network(list({"first"}, "0.3.1"), inv_, json::object(), prev);
  EXPECT_FALSE(config_of("0-first").contains("prevResult"));
  add_network(list({"first", "second"}, "0.3.1"), inv_, json::object());
  EXPECT_TRUE(config_of("2-second").contains("prevResult"));
  add_network(list({"first"}, ""), inv_, json::object());
  EXPECT_FALSE(config_of("3-first").contains("cniVersion"));
}

TEST_F(PluginTest, DelGoesOnPastAFailingPluginAndReportsIt) {
  try {
    del_network(list({"first", "fail", "second"}), inv_, json::object(), nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "plugin 'fail' failed: bad config: no subnet (code 7)");
  }
  EXPECT_EQ(calls(), (std::vector<std::string>{"0-second", "1-fail", "2-first"}));
}

TEST_F(PluginTest, DelReportsEveryPluginThatFailed) {
  // The first failure must not hide the next plugin's, whose lease (say) stays.
  try {
    del_network(list({"crash", "first", "fail"}), inv_, json::object(), nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "plugin 'fail' failed: bad config: no subnet (code 7); plugin 'crash' failed: goroutine 1 (exit status 2)");
  }
  EXPECT_EQ(calls(), (std::vector<std::string>{"0-fail", "1-first", "2-crash"}));
}

TEST_F(PluginTest, FailuresAreOneLineNamingThePlugin) {
  auto error_of = [&](const std::string& type) {
    try {
      add_network(list({type}), inv_, json::object());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error_of("fail"), "plugin 'fail' failed: bad config: no subnet (code 7)");
  EXPECT_EQ(error_of("crash"), "plugin 'crash' failed: goroutine 1 (exit status 2)");
  EXPECT_EQ(error_of("garbage"), "plugin 'garbage' printed a result that is not JSON: not json");
  EXPECT_EQ(error_of("missing"),
            "plugin 'missing' not found in " + (s_ / "nothing").string() + ":" + (s_ / "bin").string());
}

// The issue's order (Debian's, /opt/cni/bin, net.d), with where other
// distributions put the plugins (Fedora, RHEL: /usr/libexec/cni).
TEST(PluginDirs, TheIssuesOrderWithOtherDistributionsDirectories) {
  std::vector<std::filesystem::path> want = {"/usr/lib/cni",           "/usr/libexec/cni", "/usr/local/lib/cni",
                                             "/usr/local/libexec/cni", "/opt/cni/bin",     "/etc/crt/net.d"};
  EXPECT_EQ(plugin_dirs("/etc/crt"), want);
}

/// An attachment whose ADD began to network `plugins` (types), forwarding
/// `ports` host ports.
Attachment attached(const std::vector<std::string>& plugins, int ports = 0) {
  Attachment a;
  a.config.name = "net";
  for (const auto& type : plugins) a.config.plugins.push_back({{"type", type}});
  for (int i = 0; i < ports; ++i)
    a.runtime_config["portMappings"].push_back({{"hostPort", 8080 + i}, {"containerPort", 80}, {"protocol", "tcp"}});
  a.attempted = true;
  return a;
}

TEST(SharedChains, TheFirewallAndPortForwardingRunUnderTheLockAPlainNetworkNot) {
  EXPECT_FALSE(shares_host_chains(attached({"ptp"})));  // crt's default network without --port
  EXPECT_FALSE(shares_host_chains(attached({"bridge", "tuning"})));
  EXPECT_TRUE(shares_host_chains(attached({"bridge", "firewall"})));  // containernetworking/plugins#335
  EXPECT_TRUE(shares_host_chains(attached({"ptp", "portmap"}, 1)));
  EXPECT_TRUE(shares_host_chains(attached({"portmap"})));
  Attachment ports_without_portmap = attached({"my-forwarder"}, 1);
  EXPECT_TRUE(shares_host_chains(ports_without_portmap));
}

TEST(SharedChains, AGcTeardownCrtRunWaitsForIncludesItsWaitsForTheLock) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  const milliseconds limit = seconds(1);
  const milliseconds program = limit + kTimeLimitOverrun;
  const milliseconds wait = port_forwarding_wait_bound(limit);
  EXPECT_GE(wait, 2 * program) << "a holder runs plugins and iptables runs, each `limit` and its kill";
  EXPECT_EQ(port_forwarding_wait_bound(seconds(30)), 10 * (seconds(30) + kTimeLimitOverrun));

  NetworkState plain;
  plain.attachments = {attached({"ptp"})};
  // 1 DEL, remove_rules_of()'s 4 programs, no lock, 5 s.
  EXPECT_EQ(teardown_time_bound(plain, limit), 5 * program + seconds(5));

  NetworkState firewall;
  firewall.attachments = {attached({"bridge", "firewall"})};
  EXPECT_EQ(teardown_time_bound(firewall, limit), 6 * program + wait + seconds(5));

  NetworkState ports;
  ports.attachments = {attached({"ptp", "portmap"}, 2), attached({"ptp"})};
  // 3 DELs, 4 + 4 programs; a wait before portmap's DEL, one before removing its chains.
  EXPECT_EQ(teardown_time_bound(ports, limit), 11 * program + 2 * wait + seconds(5));

  NetworkState never_added;
  never_added.attachments = {attached({"bridge", "firewall"})};
  never_added.attachments[0].attempted = false;
  EXPECT_EQ(teardown_time_bound(never_added, limit), 4 * program + seconds(5));
}

}  // namespace
}  // namespace crt::net
