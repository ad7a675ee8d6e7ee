#include "net/config.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "net/lease_reclaim.hpp"
#include "test_support.hpp"

namespace crt::net {
namespace {

using nlohmann::json;
using test::Scratch;
using test::write_text;

using test::error_of;

TEST(NetConfig, BuiltInDefaultIsRktsPtpNetwork) {
  NetworkConfig d = builtin_default_network();
  EXPECT_EQ(d.name, "default");
  EXPECT_EQ(d.cni_version, "1.0.0");
  ASSERT_EQ(d.plugins.size(), 2u);
  EXPECT_EQ(d.plugins[0]["type"], "ptp");
  // Masquerading is crt's own for it (net/masquerade.hpp), not ptp's.
  EXPECT_EQ(d.plugins[0]["ipMasq"], false);
  EXPECT_TRUE(crt_masquerades(d));
  EXPECT_EQ(d.plugins[0]["ipam"]["type"], "host-local");
  EXPECT_EQ(d.plugins[0]["ipam"]["ranges"][0][0]["subnet"], "172.16.28.0/24");
  EXPECT_EQ(d.plugins[0]["ipam"]["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(d.plugins[1]["type"], "portmap");
  EXPECT_TRUE(has_capability(d.plugins[1], "portMappings"));
  EXPECT_FALSE(has_capability(d.plugins[0], "portMappings"));
  EXPECT_EQ(host_local_lease_dir(d), std::filesystem::path("/var/lib/cni/networks/default"));
}

TEST(NetConfig, SinglePluginFileBecomesAListOfOne) {
  NetworkConfig c = parse_network_config(R"({"cniVersion":"0.4.0","name":"lan","type":"bridge","bridge":"br9"})",
                                         "lan.conf", false);
  EXPECT_EQ(c.name, "lan");
  EXPECT_EQ(c.cni_version, "0.4.0");
  ASSERT_EQ(c.plugins.size(), 1u);
  EXPECT_EQ(c.plugins[0]["bridge"], "br9");
  EXPECT_FALSE(crt_masquerades(c)) << "a file's network does what its plugins do";
}

TEST(NetConfig, OldConfigWithoutVersion) {
  NetworkConfig c = parse_network_config(R"({"name":"old","type":"ptp"})", "old.conf", false);
  EXPECT_EQ(c.cni_version, "");
}

TEST(NetConfig, Errors) {
  EXPECT_EQ(error_of([] { parse_network_config("{", "x.conf", false); }).substr(0, 29),
            "'x.conf': not valid JSON: [js");
  EXPECT_EQ(error_of([] { parse_network_config(R"({"type":"ptp"})", "x.conf", false); }),
            "'x.conf': no network \"name\"");
  EXPECT_EQ(error_of([] { parse_network_config(R"({"name":"n","plugins":[]})", "x.conflist", true); }),
            "'x.conflist': a plugin list needs a non-empty \"plugins\" array");
  EXPECT_EQ(error_of([] { parse_network_config(R"({"name":"n","plugins":[{"a":1}]})", "x.conflist", true); }),
            "'x.conflist': plugin 0 has no \"type\"");
  EXPECT_EQ(error_of([] { parse_network_config(R"({"name":"n","type":"../../bin/sh"})", "x.conf", false); }),
            "'x.conf': plugin type '../../bin/sh' is not a plain file name");
}

TEST(NetConfig, LoadsFilesInNameOrderFirstNameWinsDefaultFirst) {
  Scratch s;
  write_text(s / "net.d/20-lan.conflist", R"({"cniVersion":"1.0.0","name":"lan","plugins":[{"type":"bridge"}]})");
  write_text(s / "net.d/10-lan.conf", R"({"cniVersion":"1.0.0","name":"lan","type":"macvlan"})");
  write_text(s / "net.d/30-other.json", R"({"cniVersion":"0.3.1","name":"other","type":"ipvlan"})");
  write_text(s / "net.d/README", "not a network");
  auto nets = load_networks(s / "net.d").networks;
  ASSERT_EQ(nets.size(), 3u);
  EXPECT_EQ(nets[0].name, "default");
  EXPECT_EQ(nets[0].source, "built-in");
  EXPECT_EQ(nets[1].name, "lan");
  EXPECT_EQ(nets[1].plugins[0]["type"], "macvlan");
  EXPECT_EQ(nets[2].name, "other");
}

TEST(NetConfig, UserFileOverridesTheDefault) {
  Scratch s;
  write_text(s / "net.d/50-a.conf", R"({"cniVersion":"1.0.0","name":"a","type":"bridge"})");
  write_text(s / "net.d/90-mine.conflist",
             R"({"cniVersion":"1.0.0","name":"default","plugins":[{"type":"ptp","ipam":{"type":"host-local","subnet":"10.99.0.0/24"}}]})");
  auto nets = load_networks(s / "net.d").networks;
  ASSERT_EQ(nets.size(), 2u);
  EXPECT_EQ(nets[0].name, "default");
  EXPECT_EQ(nets[0].plugins[0]["ipam"]["subnet"], "10.99.0.0/24");
  EXPECT_EQ(nets[1].name, "a");
}

TEST(NetConfig, NoDirectoryMeansOnlyTheDefault) {
  Scratch s;
  auto nets = load_networks(s / "missing").networks;
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].name, "default");
}

TEST(NetConfig, SelectNetworks) {
  Scratch s;
  write_text(s / "net.d/a.conf", R"({"cniVersion":"1.0.0","name":"a","type":"bridge"})");
  auto nets = load_networks(s / "net.d");
  auto picked = select_networks(pod::parse_net_spec("a,default"), nets, {});
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked[0].name, "a");
  EXPECT_EQ(select_networks(pod::parse_net_spec("all"), nets, {}).size(), 2u);
  EXPECT_TRUE(select_networks(pod::parse_net_spec("host"), nets, {}).empty());
  nets.dir = "/etc/crt/net.d";
  EXPECT_EQ(error_of([&] { select_networks(pod::parse_net_spec("b"), nets, {}); }),
            "no network 'b' is defined in '/etc/crt/net.d'");
}

// A broken file does not keep the others from being used; the network it
// names cannot be (the built-in default stands in for no broken default).
TEST(NetConfig, BrokenFilesArePassedOverWithAWarning) {
  Scratch s;
  write_text(s / "net.d/10-a.conf", R"({"cniVersion":"1.0.0","name":"a","type":"bridge"})");
  write_text(s / "net.d/20-junk.conflist", "{ this is not JSON");
  write_text(s / "net.d/30-b.conflist", R"({"cniVersion":"1.0.0","name":"b","plugins":[]})");
  write_text(s / "net.d/40-b.conf", R"({"cniVersion":"1.0.0","name":"b","type":"bridge"})");
  auto nets = load_networks(s / "net.d");
  ASSERT_EQ(nets.networks.size(), 2u);
  EXPECT_EQ(nets.networks[0].name, "default");
  EXPECT_EQ(nets.networks[1].name, "a");
  ASSERT_EQ(nets.broken.size(), 2u);
  EXPECT_EQ(nets.broken[0].name, "");
  EXPECT_EQ(nets.broken[1].name, "b");

  std::vector<std::string> warnings;
  auto warn = [&warnings](const std::string& w) { warnings.push_back(w); };
  auto picked = select_networks(pod::parse_net_spec("a"), nets, warn);
  ASSERT_EQ(picked.size(), 1u);
  EXPECT_EQ(picked[0].name, "a");
  ASSERT_EQ(warnings.size(), 2u);
  std::string junk =
      "warning: passed over a network file: '" + (s / "net.d/20-junk.conflist").string() + "': not valid JSON";
  EXPECT_EQ(warnings[0].substr(0, junk.size()), junk);
  EXPECT_EQ(warnings[1], "warning: passed over a network file: '" + (s / "net.d/30-b.conflist").string() +
                             "': a plugin list needs a non-empty \"plugins\" array");
  EXPECT_EQ(select_networks(pod::parse_net_spec("default"), nets, {}).at(0).source, "built-in");

  // The broken file is the first to name "b": the later good one does not
  // stand in for it, and "all" means it too.
  EXPECT_EQ(error_of([&] { select_networks(pod::parse_net_spec("b"), nets, {}); }),
            "network 'b' cannot be used: '" + (s / "net.d/30-b.conflist").string() +
                "': a plugin list needs a non-empty \"plugins\" array");
  EXPECT_EQ(error_of([&] { select_networks(pod::parse_net_spec("all"), nets, {}); }).substr(0, 28),
            "network 'b' cannot be used: ");
  // A network no good file defines: the unreadable file may have meant it.
  EXPECT_NE(error_of([&] { select_networks(pod::parse_net_spec("c"), nets, {}); }).find("20-junk.conflist"),
            std::string::npos);
}

TEST(NetConfig, ABrokenDefaultIsNotReplacedByTheBuiltIn) {
  Scratch s;
  write_text(s / "net.d/default.conflist", R"({"cniVersion":"1.0.0","name":"default","plugins":{}})");
  auto nets = load_networks(s / "net.d");
  EXPECT_TRUE(nets.networks.empty());
  EXPECT_EQ(error_of([&] { select_networks(pod::parse_net_spec("default"), nets, {}); }).substr(0, 34),
            "network 'default' cannot be used: ");
}

TEST(NetConfig, Versions) {
  EXPECT_LT(compare_versions("0.3.1", "1.0.0"), 0);
  EXPECT_EQ(compare_versions("0.4.0", "0.4.0"), 0);
  EXPECT_GT(compare_versions("0.4.0", "0.3.1"), 0);
  EXPECT_EQ(compare_versions("", "0.1.0"), 0);
  EXPECT_LT(compare_versions("", "0.3.0"), 0);
}

TEST(NetConfig, LeaseDirectoryFollowsDataDir) {
  NetworkConfig c = parse_network_config(
      R"({"name":"n","type":"bridge","ipam":{"type":"host-local","dataDir":"/srv/ipam"}})", "n.conf", false);
  EXPECT_EQ(host_local_lease_dir(c), std::filesystem::path("/srv/ipam/n"));
  NetworkConfig d = parse_network_config(R"({"name":"n","type":"bridge","ipam":{"type":"dhcp"}})", "n.conf", false);
  EXPECT_FALSE(host_local_lease_dir(d));
}

// Only a network short of addresses makes crt release leases of pods that
// are gone (a scan of /proc, a DEL each): host-local's words for it.
TEST(NetConfig, OnlyAnAddressShortageCallsForReleasingLeases) {
  EXPECT_TRUE(failed_for_want_of_an_address(
      "plugin 'ptp' failed: failed to allocate for range 0: no IP addresses available in range set: "
      "172.30.252.1-172.30.252.6"));
  EXPECT_TRUE(failed_for_want_of_an_address(
      "plugin 'bridge' failed: failed to allocate for range 0: requested IP address 172.16.28.50 is not available "
      "in range set 172.16.28.1-172.16.28.254"));
  EXPECT_FALSE(failed_for_want_of_an_address("plugin 'nosuch' not found in /usr/lib/cni"));
  EXPECT_FALSE(failed_for_want_of_an_address("plugin 'ptp' failed: no IP ranges specified (code 999)"));
}

}  // namespace
}  // namespace crt::net
