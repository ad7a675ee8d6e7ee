// The ways to choose a pod's networks and ports, with the real CNI plugins:
// --net=all and NAME:ARGS, a user's own default network, ports on a host
// address, over UDP and by the image's name for them, old CNI versions, the
// host's loopback resolvers, and a pod prepared first and run later. Traffic
// goes only to loopback and to the addresses of the pods these tests start.

#include <csignal>
#include <filesystem>
#include <fstream>

#include "../support/oci_builder.hpp"
#include "network_fixture.hpp"

namespace crt::test {
namespace {

namespace stdfs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using std::chrono::milliseconds;

/// Lines of `ip -4 -o addr` as "IFNAME ADDRESS/PREFIX".
const char* const kAddresses = "ip -4 -o addr | sed -E 's/^[0-9]+: ([^ ]+) +inet ([^ ]+).*/\\1 \\2/'";

TEST_F(NetworkTest, NetAllJoinsEveryNetworkInOrder) {
  write_ptp_network("alpha", "172.30.249.0/24");
  write_ptp_network("beta", "172.30.248.0/24");
  std::string file = dir_ + "/uuid";
  Result r = crt(with_config({"run", "--uuid-file-save=" + file, "--net=all", "busybox", "--", "/bin/sh", "-c",
                              std::string("ls /sys/class/net; ") + kAddresses}));
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = read_file(file).substr(0, 36);
  std::string def = pod_ip(uuid), alpha = pod_ip(uuid, "alpha"), beta = pod_ip(uuid, "beta");
  EXPECT_EQ(def.rfind("172.16.28.", 0), 0u) << def;
  EXPECT_EQ(alpha.rfind("172.30.249.", 0), 0u) << alpha;
  EXPECT_EQ(beta.rfind("172.30.248.", 0), 0u) << beta;
  // The built-in default first, then the files in name order.
  EXPECT_EQ(r.out, "eth0\neth1\neth2\nlo\nlo 127.0.0.1/8\neth0 " + def + "/24\neth1 " + alpha + "/24\neth2 " + beta +
                       "/24\n");
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("networks=default:ip4=" + def + ":released,alpha:ip4=" + alpha +
                                                   ":released,beta:ip4=" + beta + ":released\n"));
  EXPECT_EQ(run({"find", ipam_dir(), "-name", "172.*"}).out, "");
}

TEST_F(NetworkTest, NetworkArgumentsReachThePlugins) {
  // host-local gives the address CNI_ARGS asks for with IP=, and ignores
  // what is for other plugins (crt adds the CNI convention's IgnoreUnknown=1).
  write_ptp_network("fixed", "172.30.251.0/24");
  std::string file = dir_ + "/uuid";
  Result r = crt(with_config({"run", "--uuid-file-save=" + file, "--net=default,fixed:IP=172.30.251.77;K8S_POD_NAME=web",
                              "busybox",
                              "--", "/bin/sh", "-c", kAddresses}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("eth1 172.30.251.77/24\n"));
  std::string uuid = read_file(file).substr(0, 36);
  EXPECT_EQ(pod_ip(uuid, "fixed"), "172.30.251.77");
  // The arguments are the network's only: the default one chose freely.
  EXPECT_EQ(pod_ip(uuid).rfind("172.16.28.", 0), 0u);
  // Its DEL got them too: the lease is released.
  EXPECT_EQ(run({"find", ipam_dir(), "-name", "172.*"}).out, "");
}

TEST_F(NetworkTest, UserNetworkNamedDefaultReplacesTheBuiltInOne) {
  write_network("50-mydefault.conflist",
                R"({"cniVersion":"1.0.0","name":"default","plugins":[{"type":"ptp","ipMasq":true,)"
                R"("ipam":{"type":"host-local","subnet":"172.30.250.0/24","routes":[{"dst":"0.0.0.0/0"}],)"
                R"("dataDir":")" + ipam_dir() + R"("}}]})");
  std::string file = dir_ + "/uuid";
  Result r = crt(with_config({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                              std::string(kAddresses) + "; ip route"}));
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = read_file(file).substr(0, 36);
  std::string ip = pod_ip(uuid);
  ASSERT_EQ(ip.rfind("172.30.250.", 0), 0u) << ip;
  EXPECT_THAT(r.out, HasSubstr("eth0 " + ip + "/24\n"));
  EXPECT_THAT(r.out, HasSubstr("default via 172.30.250.1 dev eth0"));
  EXPECT_THAT(r.out, Not(HasSubstr("172.16.28.")));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("networks=default:ip4=" + ip + ":released\n"));
  EXPECT_EQ(run({"find", ipam_dir(), "-name", "172.*"}).out, "");
}

TEST_F(NetworkTest, PortOnAHostAddressIsForwardedOnThatAddressOnly) {
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--port=127.0.0.1:" + std::to_string(port) + ":80"}, "local");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from local"));
  // Another address of the host's loopback is not forwarded.
  EXPECT_EQ(http_get("127.0.0.2", port, milliseconds(500)), "");
  stop(p);
}

TEST_F(NetworkTest, UdpPortIsForwarded) {
  int port = free_port();
  BoundProgram bin = bound_program(UDP_RECEIVE_BIN);
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "--port=" + std::to_string(port) + ":5353/udp", bin.volume,
                      "busybox", bin.mount, "--", bin.path, "5353"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  // Datagrams until one arrives: the receiver may not be listening yet.
  for (int i = 0; i < 75 && p.read_for(milliseconds(200)).find("got '") == std::string::npos; ++i)
    send_udp("127.0.0.1", port, "over udp");
  Result r = p.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("udp-receive: got 'over udp'\n"));
}

TEST_F(NetworkTest, PortNamedByTheImagesExposedPorts) {
  std::vector<LayerEntry> files = {dir("bin"), file("bin/busybox", read_file("/bin/busybox"), 0755), dir("etc"),
                                   file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                                   file("etc/group", "root:x:0:\n")};
  for (const char* applet : {"sh", "mkdir", "echo", "hostname", "httpd"})
    files.push_back(symlink(std::string("bin/") + applet, "busybox"));
  OciLayout layout(dir_ + "/web");
  nlohmann::json config = {{"Cmd", {"/bin/sh", "-c", kServe}}, {"ExposedPorts", {{"80/tcp", nlohmann::json::object()}}}};
  layout.write_index({{layout.add_image({make_layer(files)}, config), "v1"}});
  ASSERT_EQ(crt({"image", "import", layout.dir().string(), "web:v1"}).status, 0);

  int port = free_port();
  Result r = crt({"run", "--port=8080-tcp:" + std::to_string(port), "web:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no image of the pod exposes a port named '8080-tcp' (exposed: 80-tcp)"));

  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--port=80-tcp:" + std::to_string(port)}, "named", {"web:v1"});
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from named"));
  stop(p);
}

TEST_F(NetworkTest, OldCniVersionsRunThroughTheRealPlugins) {
  // 0.2.0 results have the old form ({"ip4": …}); before 0.4.0 DEL gets no
  // prevResult; 0.3.1 chains portmap after ptp.
  write_network("50-v031.conflist",
                R"({"cniVersion":"0.3.1","name":"v031","plugins":[{"type":"ptp","ipMasq":true,)"
                R"("ipam":{"type":"host-local","subnet":"172.30.247.0/24","routes":[{"dst":"0.0.0.0/0"}],)"
                R"("dataDir":")" + ipam_dir() + R"("}},{"type":"portmap","capabilities":{"portMappings":true}}]})");
  write_network("51-v040.conflist",
                R"({"cniVersion":"0.4.0","name":"v040","plugins":[{"type":"ptp","ipam":{"type":"host-local",)"
                R"("subnet":"172.30.246.0/24","dataDir":")" + ipam_dir() + R"("}}]})");
  write_network("52-v020.conf", R"({"cniVersion":"0.2.0","name":"v020","type":"ptp","ipam":{"type":"host-local",)"
                                R"("subnet":"172.30.245.0/24","dataDir":")" + ipam_dir() + R"("}})");
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--net=v031,v040,v020", "--port=" + std::to_string(port) + ":80"}, "old");
  ASSERT_FALSE(uuid.empty());
  std::string ip031 = pod_ip(uuid, "v031"), ip040 = pod_ip(uuid, "v040"), ip020 = pod_ip(uuid, "v020");
  EXPECT_EQ(ip031.rfind("172.30.247.", 0), 0u) << ip031;
  EXPECT_EQ(ip040.rfind("172.30.246.", 0), 0u) << ip040;
  EXPECT_EQ(ip020.rfind("172.30.245.", 0), 0u) << ip020;
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from old"));
  for (const auto& ip : {ip031, ip040, ip020}) EXPECT_THAT(http_get(ip, 80), HasSubstr("hello from old")) << ip;
  EXPECT_THAT(crt({"status", uuid}).out,
              HasSubstr("networks=v031:ip4=" + ip031 + ",v040:ip4=" + ip040 + ",v020:ip4=" + ip020 + "\n"));
  stop(p);
  EXPECT_EQ(run({"find", ipam_dir(), "-name", "172.*"}).out, "");
}

TEST_F(NetworkTest, HostResolversOnLoopbackAreLeftOutWithAWarning) {
  // crt reads the host's /etc/resolv.conf; this one is shown to it alone, in
  // a mount namespace whose mounts do not reach the host (and with no
  // systemd-resolved upstream list, which crt would prefer).
  std::string resolv = dir_ + "/resolv.conf", empty = dir_ + "/empty";
  std::ofstream(resolv) << "nameserver 127.0.0.53\nnameserver ::1\nsearch example.test\noptions edns0\n";
  std::ofstream{empty};
  const char* const script =
      "mount --bind \"$1\" /etc/resolv.conf || exit; r=/run/systemd/resolve/resolv.conf; "
      "if [ -e $r ]; then mount --bind \"$2\" $r || exit; fi; shift 2; exec \"$@\"";
  std::vector<std::string> argv = {"unshare", "--mount", "--propagation=slave", "sh", "-c", script, "sh", resolv, empty};
  for (const auto& a : crt_argv({"run", "busybox", "--", "/bin/cat", "/etc/resolv.conf"})) argv.push_back(a);
  Result r = run(argv);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "# Generated by crt from the host's /etc/resolv.conf.\nsearch example.test\noptions edns0\n");
  for (const char* ns : {"127.0.0.53", "::1"})
    EXPECT_THAT(r.err, HasSubstr(std::string("crt: warning: the host's nameserver ") + ns +
                                 " is on its loopback, which the pod cannot reach; left it out of the pod's "
                                 "/etc/resolv.conf (give one with --dns)\n"));
}

// A pod of --net=none has no use for the host's nameservers (none of them
// reachable) nor its search domains (the host's own business): its
// resolv.conf has only what --dns, --dns-search and --dns-opt give. A pod
// of the host's network keeps the host's.
TEST_F(NetworkTest, APodWithoutANetworkGetsNothingOfTheHostsResolvConf) {
  std::string resolv = dir_ + "/resolv.conf";
  std::ofstream(resolv) << "nameserver 192.0.2.1\nsearch example.test\noptions edns0\n";
  // Shown to crt alone, as above; systemd-resolved's list is not read here.
  const char* const script = "mount --bind \"$1\" /etc/resolv.conf || exit; shift; exec \"$@\"";
  auto resolv_conf_of = [&](const std::vector<std::string>& flags) {
    std::vector<std::string> args = flags;
    for (const char* a : {"busybox", "--", "/bin/cat", "/etc/resolv.conf"}) args.emplace_back(a);
    std::vector<std::string> argv = {"unshare", "--mount", "--propagation=slave", "sh", "-c", script, "sh", resolv};
    for (const auto& a : crt_argv(args)) argv.push_back(a);
    Result r = run(argv);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return r.out;
  };
  const std::string none =
      "# Generated by crt from --dns, --dns-search and --dns-opt alone: the pod has no network "
      "(--net=none).\n";
  EXPECT_EQ(resolv_conf_of({"run", "--net=none"}), none);
  EXPECT_EQ(resolv_conf_of({"run", "--net=none", "--dns=192.0.2.9", "--dns-search=pod.test", "--dns-opt=ndots:2"}),
            none + "nameserver 192.0.2.9\nsearch pod.test\noptions ndots:2\n");
  EXPECT_EQ(resolv_conf_of({"run", "--net=host"}),
            "# Generated by crt from the host's /etc/resolv.conf.\nnameserver 192.0.2.1\nsearch example.test\n"
            "options edns0\n");
}

TEST_F(NetworkTest, PreparedPodGetsItsNetworkWhenItRuns) {
  int port = free_port();
  Result prep = crt({"prepare", "--quiet", "--hostname=later", "--port=" + std::to_string(port) + ":80", "busybox",
                     "--", "/bin/sh", "-c", kServe});
  ASSERT_EQ(prep.status, 0) << prep.err;
  std::string uuid = prep.out.substr(0, 36);
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + uuid), IsEmpty());
  EXPECT_THAT(crt({"status", uuid}).out, Not(HasSubstr("networks=")));

  Process p(crt_argv({"run-prepared", uuid}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  std::string ip = pod_ip(uuid);
  ASSERT_EQ(ip.rfind("172.16.28.", 0), 0u) << ip;
  EXPECT_THAT(http_get(ip, 80), HasSubstr("hello from later"));
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from later"));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("networks=default:ip4=" + ip + "\n"));
  p.signal(SIGTERM);
  Result r = p.wait();
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + uuid), IsEmpty());
}

}  // namespace
}  // namespace crt::test
