// Pod networking with the real CNI plugins: addresses, routes, DNS files,
// port forwarding, custom networks, and that every way a pod ends leaves
// the host's network as it was. Traffic goes only to loopback and to the
// addresses of the pods these tests start. (URLs name their port: the
// static busybox's wget crashes looking up the "http" service, and with -T.)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "net/dns.hpp"
#include "net/inspect.hpp"
#include "net/pod_network.hpp"
#include "net/state.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

namespace stdfs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;

/// A TCP port nothing listens on at the moment.
int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

/// GET / from ip:port, retrying while nothing listens yet; "" on failure.
std::string http_get(const std::string& ip, int port, milliseconds timeout = milliseconds(15000)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    timeval tv{2, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string req = "GET / HTTP/1.0\r\n\r\n", out;
      if (::write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
        char buf[4096];
        for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
      }
      ::close(s);
      if (!out.empty()) return out;
    } else {
      ::close(s);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return {};
}

std::vector<std::string> sorted_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  std::sort(v.begin(), v.end());
  return v;
}

const char* const kServe = "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

class NetworkTest : public PodTest {
 protected:
  NetworkTest() : PodTest(true) {}

  /// crt with the test's own configuration directory (net.d).
  std::vector<std::string> with_config(std::vector<std::string> args) {
    args.insert(args.begin(), "--local-config=" + config_dir());
    return args;
  }
  std::string config_dir() const { return dir_ + "/etc"; }
  std::string ipam_dir() const { return dir_ + "/ipam"; }

  void write_network(const std::string& file, const std::string& json) {
    stdfs::create_directories(config_dir() + "/net.d");
    std::ofstream(config_dir() + "/net.d/" + file) << json;
  }

  /// A ptp network of the test's own in `subnet`, leases in the test's directory.
  void write_ptp_network(const std::string& name, const std::string& subnet, const std::string& extra = "") {
    write_network("50-" + name + ".conflist",
                  R"({"cniVersion":"1.0.0","name":")" + name + R"(","plugins":[{"type":"ptp",)" + extra +
                      R"("ipam":{"type":"host-local","subnet":")" + subnet + R"(","dataDir":")" + ipam_dir() +
                      R"("}}]})");
  }

  /// Starts a pod serving "hello from HOSTNAME" on port 80; returns its UUID
  /// once it is ready.
  std::string start_server(std::unique_ptr<Process>& p, const std::vector<std::string>& pod_flags,
                           const std::string& name) {
    std::string file = dir_ + "/uuid-" + name;
    std::vector<std::string> args = {"run", "--uuid-file-save=" + file, "--hostname=" + name};
    args.insert(args.end(), pod_flags.begin(), pod_flags.end());
    args.insert(args.end(), {"busybox", "--", "/bin/sh", "-c", kServe});
    p = std::make_unique<Process>(crt_argv(with_config(args)),
                                  RunOptions{.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = true});
    std::string uuid = wait_uuid(file);
    if (uuid.empty()) return uuid;
    Result r = crt({"status", "--wait-ready=30s", uuid});
    EXPECT_EQ(r.status, 0) << r.err;
    return uuid;
  }

  /// The pod's address on network `net`, from what crt saved.
  std::string pod_ip(const std::string& uuid, const std::string& net = "default") {
    auto st = net::read_state(pod_dir(uuid));
    if (!st) return {};
    for (const auto& n : net::summarize(*st))
      if (n.name == net) return n.ip4;
    return {};
  }

  void stop(std::unique_ptr<Process>& p) {
    p->signal(SIGTERM);
    Result r = p->wait();
    EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  }
};

TEST_F(NetworkTest, DefaultNetworkGivesThePodAnAddressARouteAndItsFiles) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, "--hostname=web", "--hosts-entry=192.0.2.80=db.test",
                  "busybox", "--", "/bin/sh", "-c",
                  "ls /sys/class/net; echo --; ip -4 -o addr show eth0; ip route; echo --; cat /etc/resolv.conf; "
                  "echo --; cat /etc/hosts"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = read_file(file).substr(0, 36);
  std::string ip = pod_ip(uuid);
  ASSERT_EQ(ip.rfind("172.16.28.", 0), 0u) << ip;
  std::vector<std::string> parts;
  std::istringstream in(r.out + "--\n");
  std::string part, line;
  while (std::getline(in, line)) {
    if (line == "--") {
      parts.push_back(part);
      part.clear();
    } else {
      part += line + "\n";
    }
  }
  ASSERT_EQ(parts.size(), 4u) << r.out;
  EXPECT_EQ(parts[0], "eth0\nlo\n");
  EXPECT_THAT(parts[1], HasSubstr("inet " + ip + "/24"));
  EXPECT_THAT(parts[1], HasSubstr("default via 172.16.28.1 dev eth0"));
  // The host's resolvers, but those on its loopback.
  net::ResolvConf host = net::parse_resolv_conf(read_file("/etc/resolv.conf"));
  std::string expected_servers;
  for (const auto& ns : host.nameservers)
    if (!net::is_loopback(ns)) expected_servers += "nameserver " + ns + "\n";
  EXPECT_THAT(parts[2], HasSubstr("Generated by crt from the host's /etc/resolv.conf."));
  EXPECT_THAT(parts[2], HasSubstr(expected_servers));
  EXPECT_THAT(parts[3], HasSubstr("127.0.0.1\tlocalhost\n"));
  EXPECT_THAT(parts[3], HasSubstr(ip + "\tweb\n"));
  EXPECT_THAT(parts[3], HasSubstr("192.0.2.80\tdb.test\n"));

  Result st = crt({"status", uuid});
  EXPECT_THAT(st.out, HasSubstr("networks=default:ip4=" + ip + "\n"));
  Result js = crt({"status", "--format=json", uuid});
  EXPECT_THAT(js.out, HasSubstr("\"ifname\": \"eth0\""));
  Result ls = crt({"list", "--no-legend"});
  EXPECT_THAT(ls.out, HasSubstr("default:ip4=" + ip));
}

TEST_F(NetworkTest, ServerIsReachedAtItsAddressAndThroughAHostPortOnLoopback) {
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--port=" + std::to_string(port) + ":80"}, "srv");
  ASSERT_FALSE(uuid.empty());
  std::string ip = pod_ip(uuid);
  ASSERT_FALSE(ip.empty());
  EXPECT_THAT(http_get(ip, 80), HasSubstr("hello from srv"));
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from srv"));
  // Running, the pod shows its network, and its namespace can be inspected.
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("networks=default:ip4=" + ip + "\n"));
  Result in = crt({"inspect", "--format=json", uuid});
  ASSERT_EQ(in.status, 0) << in.err;
  nlohmann::json net = nlohmann::json::parse(in.out)["network"];
  EXPECT_EQ(net["namespace"], "/run/netns/crt-" + uuid);
  EXPECT_EQ(net["networks"][0]["ip4"], ip);
  EXPECT_THAT(net["addresses"].dump(), HasSubstr("\"local\":\"" + ip + "\""));
  EXPECT_THAT(net["routes"].dump(), HasSubstr("\"dst\":\"default\""));
  in = crt({"inspect", uuid});
  EXPECT_THAT(in.out, HasSubstr("network: its own, namespace /run/netns/crt-" + uuid + "\n"));
  EXPECT_THAT(in.out, HasSubstr("    default via 172.16.28.1 dev eth0\n"));
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + uuid), Not(::testing::IsEmpty()));
  stop(p);
  EXPECT_EQ(http_get("127.0.0.1", port, milliseconds(300)), "");
  EXPECT_FALSE(net::inspect_pod_network(pod_dir(uuid)));
  EXPECT_FALSE(nlohmann::json::parse(crt({"inspect", "--format=json", uuid}).out)["network"].contains("addresses"));
}

TEST_F(NetworkTest, TwoPodsReachEachOtherOnTheDefaultNetwork) {
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {}, "one");
  ASSERT_FALSE(uuid.empty());
  std::string ip = pod_ip(uuid);
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c", "wget -q -O - http://" + ip + ":80/"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello from one\n");
  stop(p);
}

TEST_F(NetworkTest, CustomBridgeNetworkFromAConflist) {
  write_network("10-testbr.conflist",
                R"({"cniVersion":"1.0.0","name":"testbr","plugins":[{"type":"bridge","bridge":"crt-testbr0",)"
                R"("isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"172.30.254.0/24"}]],)"
                R"("dataDir":")" + ipam_dir() + R"("}}]})");
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--net=testbr"}, "bridged");
  ASSERT_FALSE(uuid.empty());
  std::string ip = pod_ip(uuid, "testbr");
  ASSERT_EQ(ip.rfind("172.30.254.", 0), 0u) << ip;
  // A second pod on the default network and the bridge: eth0 and eth1.
  std::string file = dir_ + "/uuid2";
  Result r = crt(with_config({"run", "--uuid-file-save=" + file, "--net=default,testbr", "busybox", "--", "/bin/sh",
                              "-c", "ip -4 -o addr | cut -d' ' -f2,7; wget -q -O - http://" + ip + ":80/"}));
  EXPECT_EQ(r.status, 0) << r.err;
  std::string second = read_file(file).substr(0, 36);
  EXPECT_THAT(r.out, HasSubstr("eth0 " + pod_ip(second) + "/24\n"));
  EXPECT_THAT(r.out, HasSubstr("eth1 " + pod_ip(second, "testbr") + "/24\n"));
  EXPECT_THAT(r.out, HasSubstr("hello from bridged\n"));
  EXPECT_THAT(crt({"status", second}).out,
              HasSubstr("networks=default:ip4=" + pod_ip(second) + ",testbr:ip4=" + pod_ip(second, "testbr") + "\n"));
  stop(p);
  EXPECT_EQ(test::run({"find", ipam_dir(), "-name", "172.*"}).out, "");
  // The bridge is the network's, not a pod's: the plugin keeps it.
  EXPECT_TRUE(stdfs::exists("/sys/class/net/crt-testbr0"));
  run({"ip", "link", "delete", "crt-testbr0"});
}

TEST_F(NetworkTest, DnsFromFlagsThenTheNetworkThenTheHost) {
  Result r = crt({"run", "--dns=192.0.2.53", "--dns=192.0.2.54", "--dns-search=example.test", "--dns-opt=ndots:3",
                  "busybox", "--", "/bin/cat", "/etc/resolv.conf"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "# Generated by crt from --dns.\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
                   "search example.test\noptions ndots:3\n");

  write_ptp_network("dnsnet", "172.30.253.0/24",
                    R"("dns":{"nameservers":["192.0.2.55"],"search":["cni.test"]},)");
  r = crt(with_config({"run", "--net=dnsnet", "busybox", "--", "/bin/cat", "/etc/resolv.conf"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "# Generated by crt from the network's DNS settings.\nnameserver 192.0.2.55\nsearch cni.test\n");

  // --net=host: the host's file, loopback resolvers included.
  r = crt({"run", "--net=host", "busybox", "--", "/bin/cat", "/etc/resolv.conf"});
  ASSERT_EQ(r.status, 0) << r.err;
  net::ResolvConf host = net::parse_resolv_conf(read_file("/etc/resolv.conf"));
  EXPECT_EQ(net::parse_resolv_conf(r.out).nameservers, host.nameservers);
}

TEST_F(NetworkTest, PortNeedsThePodsOwnNetwork) {
  Result r = crt({"run", "--net=host", "--port=8080:80", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: --port forwards to the pod's own network; there is none with --net=host\n");
}

TEST_F(NetworkTest, UnknownNetworkIsAClearErrorAndLeavesNothing) {
  Result r = crt(with_config({"run", "--net=default,nosuch", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no network 'nosuch' is defined in '" + config_dir() + "/net.d'"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(pods("run").empty());
}

TEST_F(NetworkTest, FailingPluginNamesNetworkAndPluginAndLeavesNothing) {
  // host-local without a subnet: the plugin refuses it.
  write_network("50-broken.conf",
                R"({"cniVersion":"1.0.0","name":"broken","type":"ptp","ipam":{"type":"host-local","dataDir":")" +
                    ipam_dir() + R"("}})");
  Result r = crt(with_config({"run", "--net=default,broken", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: setting up network 'broken': plugin 'ptp' failed: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(pods("run").empty());
}

TEST_F(NetworkTest, KilledCrtLeavesWhatGcTearsDownFromThePodDirectory) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  int port = free_port();
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "--port=" + std::to_string(port) + ":80", "busybox", "--",
                      "/bin/sh", "-c", kServe}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from"));
  p.signal(SIGKILL);
  p.wait();
  ASSERT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  // Namespace, lease and rules are all still there…
  NetSnapshot left = NetSnapshot::take();
  std::string id = "crt-" + uuid;
  auto has = [&](const std::vector<std::string>& v, const std::string& s) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& l) { return l.find(s) != std::string::npos; });
  };
  EXPECT_TRUE(has(left.netns, id));
  EXPECT_TRUE(has(left.leases, id));
  EXPECT_TRUE(has(left.rules, id));
  EXPECT_TRUE(has(left.rules, "--dport " + std::to_string(port)));
  // …until crt gc tears them down from the pod directory alone, at once,
  // while the pod itself stays for the grace period.
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tore down the network of " + uuid + "\n"));
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
  EXPECT_EQ(http_get("127.0.0.1", port, milliseconds(300)), "");
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("networks=default:ip4="));
  // Once is enough: again, and crt rm, find nothing more to do.
  std::string exited = dir_ + "/pods/exited-garbage/" + uuid;
  EXPECT_NO_THROW(net::teardown_pod_network(exited));
  r = crt({"gc"});
  EXPECT_THAT(r.out, Not(HasSubstr("tore down")));
  r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(NetworkTest, RulesOfAKilledPodWhoseInterfaceVanishedAreRemovedToo) {
  // ptp's DEL skips its masquerading rules when the pod's interface is gone
  // (a pod killed halfway); crt removes what the plugin tagged with the pod.
  check_cgroups_ = false;
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  p.signal(SIGKILL);
  p.wait();
  ASSERT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  std::string id = "crt-" + uuid;
  EXPECT_EQ(run({"ip", "netns", "exec", id, "ip", "link", "delete", "eth0"}).status, 0);
  auto tagged = [&] {
    std::vector<std::string> out;
    for (const auto& l : NetSnapshot::take().mentioning(id))
      if (l.find("id: \\\"" + id) != std::string::npos) out.push_back(l);
    return out;
  };
  EXPECT_THAT(tagged(), Not(::testing::IsEmpty()));
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

TEST_F(NetworkTest, LeasesOfPodsThatAreGoneDoNotExhaustTheSubnet) {
  // A /29: host-local hands out .2 to .6.
  write_ptp_network("tiny", "172.30.252.0/29");
  std::unique_ptr<Process> live;
  std::string uuid = start_server(live, {"--net=tiny"}, "live");
  ASSERT_FALSE(uuid.empty());
  std::string live_ip = pod_ip(uuid, "tiny");
  // Leases of pods that a reboot took away fill the rest of the subnet.
  std::string leases = ipam_dir() + "/tiny";
  for (int i = 2; i <= 6; ++i) {
    std::string ip = "172.30.252." + std::to_string(i);
    if (ip == live_ip) continue;
    std::ofstream(leases + "/" + ip) << "crt-00000000-0000-4000-8000-00000000000" << i << "\r\neth0";
  }
  Result r = crt(with_config({"run", "--net=tiny", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  // The dead ones are released, the live pod keeps its address.
  EXPECT_EQ(test::run({"grep", "-rl", "crt-00000000", leases}).out, "");
  EXPECT_EQ(read_file(leases + "/" + live_ip).substr(0, 40), "crt-" + uuid);
  stop(live);
}

TEST_F(NetworkTest, HundredPodsInALoopLeaveNoLeaseBehind) {
  std::vector<std::string> before = sorted_lines(run({"ls", std::string(kIpamDir) + "/default"}).out);
  for (int i = 0; i < 100; ++i) {
    Result r = crt({"run", "busybox", "--", "/bin/true"});
    ASSERT_EQ(r.status, 0) << i << ": " << r.err;
    std::error_code ec;
    for (const auto& uuid : pods("run")) stdfs::remove_all(pod_dir(uuid), ec);
  }
  EXPECT_EQ(sorted_lines(run({"ls", std::string(kIpamDir) + "/default"}).out), before);
}

}  // namespace
}  // namespace crt::test
