// Port forwarding of pods on the real CNI plugins (portmap): host ports on
// each address and family, the sockets that hold them, and the forwards of
// pods whose crt was killed, which a new pod on their port replaces. Each
// test leaves the host's network as it was (NetworkTest).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/fd.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "net/state.hpp"
#include "network_fixture.hpp"

namespace crt::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(NetworkTest, OneHostPortOnTwoOfTheHostsAddresses) {
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(
      p, {"--port=127.0.0.1:" + std::to_string(port) + ":80", "--port=127.0.0.2:" + std::to_string(port) + ":80"},
      "srv");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from srv"));
  EXPECT_THAT(http_get("127.0.0.2", port), HasSubstr("hello from srv"));
  stop(p);
}

TEST_F(NetworkTest, PortNeedsThePodsOwnNetwork) {
  Result r = crt({"run", "--net=host", "--port=8080:80", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: --port forwards to the pod's own network; there is none with --net=host\n");
}

TEST_F(NetworkTest, AHostPortInUseIsAClearErrorAndAPodKeepsItsPort) {
  // A port a process of the host listens on is not taken over by a pod.
  int port = free_port();
  UniqueFd listener = listen_on_host(AF_INET, port, true);
  ASSERT_TRUE(listener.valid()) << std::strerror(errno);
  Result r = crt({"run", "--port=" + std::to_string(port) + ":80", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: --port: host port " + std::to_string(port) +
                       "/tcp is in use (by a process of the host or another pod)\n");
  EXPECT_TRUE(pods("run").empty());
  listener.reset();
  // Nor one a running pod forwards: the port stays the first pod's.
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--port=" + std::to_string(port) + ":80"}, "first");
  ASSERT_FALSE(uuid.empty());
  r = crt({"run", "--port=" + std::to_string(port) + ":80", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("/tcp is in use by pod " + uuid));
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from first"));
  stop(p);
}

// Without a host address portmap forwards the port on IPv6 too when the
// pod has an IPv6 address: a host service there is not taken over either.
TEST_F(NetworkTest, OnADualStackNetworkAPortOfEveryAddressIsTheHostsOnIpv6Too) {
  if (!std::filesystem::exists("/proc/net/if_inet6")) GTEST_SKIP() << "this host has no IPv6";
  write_dual_stack_network();
  int port = free_port();
  // As nginx's `listen [::]:PORT`: IPv6 alone.
  UniqueFd listener = listen_on_host(AF_INET6, port);
  ASSERT_TRUE(listener.valid()) << std::strerror(errno);
  std::vector<std::string> run_pod =
      with_config({"run", "--net=dualbr", "--port=" + std::to_string(port) + ":80", "busybox", "--", "/bin/true"});
  Result r = crt(run_pod);
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("--port: host port " + std::to_string(port) + "/tcp on :: is in use")) << r.err;
  EXPECT_TRUE(pods("run").empty());
  listener.reset();
  r = crt(run_pod);
  EXPECT_EQ(r.status, 0) << r.err;
  // [::] itself is IPv6's alone: a host service on IPv4's port stays.
  UniqueFd v4 = listen_on_host(AF_INET, port);
  ASSERT_TRUE(v4.valid()) << std::strerror(errno);
  r = crt(with_config(
      {"run", "--net=dualbr", "--port=[::]:" + std::to_string(port) + ":80", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
}

// portmap jumps to a pod's forwarding chain in each family the pod has an
// address of, but forwards only in its mapping's: a running pod's port on an
// IPv6 address leaves the IPv4 one to another pod, whose start must not take
// that jump for a forward of a pod whose crt was killed.
TEST_F(NetworkTest, APodOnTheSamePortOfTheOtherFamilyStarts) {
  if (!std::filesystem::exists("/proc/net/if_inet6")) GTEST_SKIP() << "this host has no IPv6";
  write_dual_stack_network();
  const std::string addr = "2001:db8:c27::2";
  ASSERT_EQ(run({"ip", "-6", "addr", "add", addr + "/128", "dev", "lo", "nodad"}).status, 0);
  Undo drop([&addr] { run({"ip", "-6", "addr", "del", addr + "/128", "dev", "lo"}); });
  std::string port = std::to_string(free_port());
  std::unique_ptr<Process> six, four;
  ASSERT_FALSE(start_server(six, {"--net=dualbr", "--port=[" + addr + "]:" + port + ":80"}, "six").empty());
  ASSERT_FALSE(start_server(four, {"--port=127.0.0.1:" + port + ":80"}, "four").empty());
  EXPECT_THAT(http_get("127.0.0.1", std::stoi(port)), HasSubstr("hello from four"));
  stop(four);
  stop(six);
}

/// Connects to the loopback address of `family` (127.0.0.1 or ::1) on
/// `port`, waiting at most 3 s: its errno, 0 if it connected, ETIMEDOUT if
/// it hung.
int connect_loopback(int family, int port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  SocketAddress a(family, port, true);
  if (::connect(fd.get(), a.get(), a.size) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, 3000) != 1) return ETIMEDOUT;
  int err = 0;
  socklen_t err_len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
  return err;
}

// The sockets that hold a pod's host ports take no connections (where
// portmap forwards nothing, a client is refused, not left hanging on a
// connection no one accepts); host services still cannot take the ports,
// even with SO_REUSEADDR or SO_REUSEPORT. portmap forwards a port of every
// address on ::1 too, where the kernel drops what it forwards (IPv6 has no
// route_localnet): crt keeps ::1 out of that forwarding, so a client there
// is refused at once rather than left hanging; its rule goes with the pod's
// network (NetworkTest compares the host's rules before and after).
TEST_F(NetworkTest, AReservedHostPortListensNowhereAndIsHeldAllTheSame) {
  if (!std::filesystem::exists("/proc/net/if_inet6")) GTEST_SKIP() << "this host has no IPv6";
  write_dual_stack_network();
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--net=dualbr", "--port=" + std::to_string(port) + ":80"}, "dual");
  ASSERT_FALSE(uuid.empty());
  EXPECT_EQ(run({"ss", "-Hltn", "sport = :" + std::to_string(port)}).out, "");
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from dual"));
  EXPECT_EQ(connect_loopback(AF_INET6, port), ECONNREFUSED);
  EXPECT_EQ(bind_error(AF_INET, port), EADDRINUSE);
  EXPECT_EQ(bind_error(AF_INET6, port), EADDRINUSE);
  // crt status and inspect show the ports as forwarded, in both families.
  std::string published = "0.0.0.0:" + std::to_string(port) + "->80/tcp,[::]:" + std::to_string(port) + "->80/tcp";
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("\nports=" + published + "\n"));
  json ports = crt::json_text::parse(crt({"status", "--format=json", uuid}).out)["ports"];
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[1], json({{"network", "dualbr"},
                            {"host_ip", "::"},
                            {"host_port", port},
                            {"pod_port", 80},
                            {"protocol", "tcp"},
                            {"released", false}}));
  EXPECT_THAT(crt({"inspect", uuid}).out, HasSubstr("\n  ports:       0.0.0.0:" + std::to_string(port) +
                                                    "->80/tcp, [::]:" + std::to_string(port) + "->80/tcp\n"));
  EXPECT_EQ(crt::json_text::parse(crt({"inspect", "--format=json", uuid}).out)["network"]["ports"], ports);
  // So does crt list, in its last column (as docker ps), and in JSON.
  EXPECT_THAT(crt({"list", "--no-legend"}).out, HasSubstr("  " + published + "\n"));
  EXPECT_EQ(crt::json_text::parse(crt({"list", "--format=json"}).out)[0]["ports"], ports);
  stop(p);
  // Released with the network: another's by now, maybe.
  EXPECT_THAT(crt({"status", uuid}).out,
              HasSubstr("\nports=0.0.0.0:" + std::to_string(port) + "->80/tcp:released,[::]:" + std::to_string(port) +
                        "->80/tcp:released\n"));
  EXPECT_THAT(crt({"inspect", uuid}).out, HasSubstr("->80/tcp (released: the network is torn down)\n"));
}

// On a network that gives the pod no IPv4 address nothing is forwarded on
// IPv4: its port is not held from the host's services there.
TEST_F(NetworkTest, APortOfEveryAddressIsHeldOnlyInTheFamiliesTheNetworkGives) {
  if (!std::filesystem::exists("/proc/net/if_inet6")) GTEST_SKIP() << "this host has no IPv6";
  write_v6only_network();
  int port = free_port();
  std::unique_ptr<Process> p;
  ASSERT_FALSE(start_server(p, {"--net=v6only", "--port=" + std::to_string(port) + ":80"}, "six").empty());
  EXPECT_EQ(connect_loopback(AF_INET, port), ECONNREFUSED);
  EXPECT_EQ(bind_error(AF_INET6, port), EADDRINUSE);
  EXPECT_EQ(bind_error(AF_INET, port), 0);
  stop(p);
}

TEST_F(NetworkTest, AnIpv6HostAddressNeedsAnIpv6PodAddress) {
  // The default network is IPv4 only: portmap would forward nothing. (An
  // address of the host's own for the while: ::1 is refused before.)
  const std::string addr = "2001:db8:c27::1";
  ASSERT_EQ(run({"ip", "-6", "addr", "add", addr + "/128", "dev", "lo", "nodad"}).status, 0);
  Result r = crt({"run", "--port=[" + addr + "]:" + std::to_string(free_port()) + ":80", "busybox", "--", "/bin/true"});
  run({"ip", "-6", "addr", "del", addr + "/128", "dev", "lo"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is IPv6, and network 'default' gave the pod no IPv6 address to forward it to"))
      << r.err;
  EXPECT_TRUE(pods("run").empty());
}

// And the other way round: an IPv6-only network's pod has no IPv4 address
// for a port of an IPv4 host address.
TEST_F(NetworkTest, AnIpv4HostAddressNeedsAnIpv4PodAddress) {
  if (!std::filesystem::exists("/proc/net/if_inet6")) GTEST_SKIP() << "this host has no IPv6";
  write_v6only_network();
  Result r = crt(with_config({"run", "--net=v6only", "--port=127.0.0.1:" + std::to_string(free_port()) + ":80",
                              "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is IPv4, and network 'v6only' gave the pod no IPv4 address to forward it to (forward "
                               "an IPv6 address, or none)"))
      << r.err;
  EXPECT_TRUE(pods("run").empty());
  r = crt(with_config(
      {"run", "--net=v6only", "--port=" + std::to_string(free_port()) + ":80", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(NetworkTest, APodForwardingTheHostPortOfAKilledCrtsPodGetsItsTraffic) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  int port = free_port();
  std::string dead =
      run_and_kill_crt({"--port=" + std::to_string(port) + ":80", "busybox", "--", "/bin/sh", "-c", kServe});
  ASSERT_FALSE(dead.empty());
  // The dead pod's rules would come first and take the port's traffic.
  std::unique_ptr<Process> next;
  std::string uuid = start_server(next, {"--port=" + std::to_string(port) + ":80"}, "next");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from next"));
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + dead), ::testing::IsEmpty());
  stop(next);
  EXPECT_EQ(crt({"rm", dead}).status, 0);
}

// A pod whose crt was killed runs on while it stops (here it ignores
// SIGTERM for its stop timeout), its port held by crt's watch: its
// forwarding would take a new pod's traffic, then send it nowhere. The new
// pod's start fails, naming it, until it has stopped.
TEST_F(NetworkTest, APodOnTheHostPortOfAStoppingPodWhoseCrtWasKilledWaitsForIt) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  int port = free_port();
  std::unique_ptr<Process> killed;
  std::string serve = std::string("trap '' TERM; ") + kServe;
  std::string stopping = start_server(killed, {"--stop-timeout=15s", "--port=" + std::to_string(port) + ":80"},
                                      "stopping", {"busybox", "--", "/bin/sh", "-c", serve});
  ASSERT_FALSE(stopping.empty());
  killed->signal(SIGKILL);
  killed->wait();
  Result r = crt(with_config({"run", "--port=" + std::to_string(port) + ":80", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("--port: host port " + std::to_string(port) + "/tcp is in use by pod " + stopping +
                               " (if its crt ended, it stops within its stop timeout"));
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from stopping"));
  ASSERT_EQ(crt({"status", "--wait=30s", stopping}).status, 0);
  std::unique_ptr<Process> next;
  std::string uuid = start_server(next, {"--port=" + std::to_string(port) + ":80"}, "next");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from next"));
  stop(next);
  for (const auto& pod : pods("exited-garbage")) crt({"rm", pod});
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + stopping), ::testing::IsEmpty());
}

// As above, for a pod of another state directory, which this crt run's
// own teardown of dead pods does not reach. With the dead pod's forwards
// goes its [::1] refusal of the port (on a network that gives pods an IPv6
// address), which would otherwise stay until its own teardown.
TEST_F(NetworkTest, APodForwardingTheHostPortOfAKilledPodOfAnotherStateDirectoryGetsItsTraffic) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  int port = free_port();
  std::string other = dir_ + "/other-state";
  std::string file = dir_ + "/uuid-other";
  bool ipv6 = std::filesystem::exists("/proc/net/if_inet6");
  if (ipv6) write_dual_stack_network();
  std::string net = ipv6 ? "--net=dualbr" : "--net=default";
  auto other_crt = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {crt_bin_, "--dir=" + other, "--local-config=" + config_dir()});
    return args;
  };
  Process killed(other_crt({"run", "--uuid-file-save=" + file, net, "--port=" + std::to_string(port) + ":80", "busybox",
                            "--", "/bin/sleep", "60"}),
                 {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string dead = wait_uuid(file);
  ASSERT_EQ(run(other_crt({"status", "--wait-ready=30s", dead})).status, 0);
  kill_crt_and_its_watch(killed);
  ASSERT_EQ(run(other_crt({"stop", dead})).status, 0);
  ASSERT_EQ(run(other_crt({"status", "--wait=20s", dead})).status, 0);
  std::string id = "crt-" + dead;
  auto forwards_of_dead = [&] {
    std::vector<std::string> out;
    for (const auto& l : NetSnapshot::take().rules)
      if (l.find(id) != std::string::npos &&
          (l.find("CNI-HOSTPORT-DNAT") != std::string::npos || l.find("::1/128") != std::string::npos))
        out.push_back(l);
    return out;
  };
  std::vector<std::string> before = forwards_of_dead();
  ASSERT_THAT(before, Not(::testing::IsEmpty()));
  if (ipv6) {
    ASSERT_TRUE(std::any_of(before.begin(), before.end(),
                            [](const std::string& l) { return l.find("::1/128") != std::string::npos; }));
  }
  std::unique_ptr<Process> next;
  std::string uuid = start_server(next, {net, "--port=" + std::to_string(port) + ":80"}, "next");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from next"));
  EXPECT_THAT(forwards_of_dead(), ::testing::IsEmpty());
  stop(next);
  // Its own directory's gc takes the rest (its plugins' DEL finds their own
  // rules, the namespace, the lease).
  Result r = run(other_crt({"gc"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run(other_crt({"rm", dead})).status, 0);
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
}

TEST_F(NetworkTest, RulesOfAKilledPodWhoseInterfaceVanishedAreRemovedToo) {
  // ptp's DEL skips its masquerading rules when the pod's interface is gone
  // (a pod killed halfway); crt removes what the plugin tagged with the pod.
  check_cgroups_ = false;
  std::string uuid = run_and_kill_crt({"busybox", "--", "/bin/sleep", "60"});
  ASSERT_FALSE(uuid.empty());
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

}  // namespace
}  // namespace crt::test
