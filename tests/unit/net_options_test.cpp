#include "pod/net_options.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "pod/net_flags.hpp"
#include "test_support.hpp"

namespace crt::pod {
namespace {

using test::error_of;

TEST(NetSpec, Modes) {
  EXPECT_EQ(parse_net_spec("host").mode, NetSpec::Mode::kHost);
  EXPECT_EQ(parse_net_spec("none").mode, NetSpec::Mode::kNone);
  EXPECT_FALSE(parse_net_spec("host").cni());
  NetSpec all = parse_net_spec("all");
  EXPECT_TRUE(all.cni());
  EXPECT_TRUE(all.all);
  NetSpec def = parse_net_spec("default");
  EXPECT_TRUE(def.cni());
  ASSERT_EQ(def.networks.size(), 1u);
  EXPECT_EQ(def.networks[0].name, "default");
  EXPECT_EQ(def.networks[0].args, "");
}

TEST(NetSpec, SeveralNetworksWithArguments) {
  NetSpec s = parse_net_spec("default:IP=172.16.28.9,lan.1,back_end:A=1;B=x");
  ASSERT_EQ(s.networks.size(), 3u);
  EXPECT_EQ(s.networks[0].name, "default");
  EXPECT_EQ(s.networks[0].args, "IP=172.16.28.9");
  EXPECT_EQ(s.networks[1].name, "lan.1");
  EXPECT_EQ(s.networks[2].args, "A=1;B=x");
}

TEST(NetSpec, Errors) {
  EXPECT_EQ(error_of([] { parse_net_spec(""); }), "invalid --net '': give host, none, all or NAME[:ARGS],…");
  EXPECT_EQ(error_of([] { parse_net_spec("a,a"); }), "invalid --net 'a,a': network 'a' is given twice");
  EXPECT_EQ(error_of([] { parse_net_spec("a,none"); }), "invalid --net 'a,none': 'none' cannot be combined with other networks");
  EXPECT_EQ(error_of([] { parse_net_spec("a:"); }), "invalid --net 'a:': no arguments after 'a:'");
  EXPECT_EQ(error_of([] { parse_net_spec("a:IP"); }), "invalid --net 'a:IP': argument 'IP' of network 'a' is not K=V");
  EXPECT_NE(error_of([] { parse_net_spec("-x"); }), "(no error)");
  EXPECT_NE(error_of([] { parse_net_spec("a,,b"); }), "(no error)");
  EXPECT_NE(error_of([] { parse_net_spec("../x"); }), "(no error)");
}

TEST(PortSpec, NumericForms) {
  PortSpec p = parse_port_spec("8080:80");
  EXPECT_EQ(p.host_port, 8080);
  EXPECT_EQ(p.pod_port, 80);
  EXPECT_EQ(p.protocol, "tcp");
  EXPECT_EQ(p.host_ip, "");
  p = parse_port_spec("127.0.0.1:5353:53/udp");
  EXPECT_EQ(p.host_ip, "127.0.0.1");
  EXPECT_EQ(p.host_port, 5353);
  EXPECT_EQ(p.pod_port, 53);
  EXPECT_EQ(p.protocol, "udp");
  p = parse_port_spec("[2001:db8::1]:8443:443/tcp");
  EXPECT_EQ(p.host_ip, "2001:db8::1");
  EXPECT_EQ(p.host_port, 8443);
}

TEST(PortSpec, NamedForms) {
  PortSpec p = parse_port_spec("80-tcp:8080");
  EXPECT_EQ(p.name, "80-tcp");
  EXPECT_EQ(p.host_port, 8080);
  p = parse_port_spec("http:10.0.0.1:8080");
  EXPECT_EQ(p.name, "http");
  EXPECT_EQ(p.host_ip, "10.0.0.1");
}

TEST(PortSpec, Errors) {
  for (const char* bad : {"8080", "0:80", "65536:80", "8080:80/sctp", "1.2.3:8080:80", "a:b:c:d", "8080:x", ":80",
                          "80-tcp:99999", "x y:80"})
    EXPECT_NE(error_of([&] { parse_port_spec(bad); }), "(no error)") << bad;
  EXPECT_EQ(error_of([] { parse_port_spec("8080"); }),
            "invalid --port '8080': wrong number of fields (expected [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp] or "
            "NAME:[HOSTIP:]HOSTPORT)");
}

TEST(PortSpec, ErrorsNameTheFieldAtFault) {
  for (const char* ip : {"1.2.3.4.5", "999.1.1.1"})
    EXPECT_EQ(error_of([&] { parse_port_spec(std::string(ip) + ":18090:80"); }),
              "invalid --port '" + std::string(ip) + ":18090:80': '" + ip +
                  "' is not an IP address (expected [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp] or NAME:[HOSTIP:]HOSTPORT)");
  EXPECT_NE(error_of([] { parse_port_spec("18090:80/udp,18091:81"); }).find("one port per --port, no commas"),
            std::string::npos);
  EXPECT_EQ(parse_port_spec("http:10.0.0.1:8080").host_ip, "10.0.0.1") << "NAME:HOSTIP:HOSTPORT stays";
}

TEST(PortSpec, AnIpv6LinkLocalHostAddressIsRefused) {
  for (const char* spec : {"[fe80::1]:18080:80", "[FEBF::9]:18080:80", "http:[fe80::1]:18080"})
    EXPECT_NE(error_of([&] { parse_port_spec(spec); }).find("is a link-local address, which needs an interface"),
              std::string::npos)
        << spec;
  EXPECT_EQ(parse_port_spec("[fec0::1]:18080:80").host_ip, "fec0::1");
  EXPECT_EQ(parse_port_spec("169.254.1.1:18080:80").host_ip, "169.254.1.1");
}

// An IPv6-only reservation cannot bind it ("Invalid argument"), nor would
// it clash with the same IPv4 address written as IPv4.
TEST(PortSpec, AnIpv4AddressWrittenAsIpv6IsRefusedNamingItsIpv4Form) {
  EXPECT_NE(error_of([] {
              parse_port_spec("[::ffff:10.0.0.1]:18080:80");
            }).find("'::ffff:10.0.0.1' is an IPv4 address written as IPv6: give it as IPv4 (10.0.0.1)"),
            std::string::npos);
}

// The kernel drops what comes from ::1 on its way to a pod (IPv6 has no
// route_localnet): such a forward would leave its clients waiting.
TEST(PortSpec, IpV6LoopbackIsRefusedForWhatTheKernelDoesNotForward) {
  for (const char* spec : {"[::1]:18080:80", "[0:0::1]:18080:80/udp", "http:[::1]:18080"})
    EXPECT_NE(error_of([&] { parse_port_spec(spec); }).find("is IPv6's loopback, which the kernel does not forward"),
              std::string::npos)
        << spec;
  EXPECT_EQ(parse_port_spec("127.0.0.1:18080:80").host_ip, "127.0.0.1");
}

TEST(ResolvePort, ByExposedName) {
  std::vector<std::string> exposed = {"80/tcp", "53/udp", "8080"};
  PortMapping m = resolve_port(parse_port_spec("53-udp:5353"), exposed);
  EXPECT_EQ(m.pod_port, 53);
  EXPECT_EQ(m.protocol, "udp");
  EXPECT_EQ(m.host_port, 5353);
  EXPECT_EQ(resolve_port(parse_port_spec("80/tcp:81"), exposed).pod_port, 80);
  EXPECT_EQ(resolve_port(parse_port_spec("8080-tcp:82"), exposed).pod_port, 8080);
  EXPECT_EQ(error_of([&] { resolve_port(parse_port_spec("81-tcp:1"), exposed); }),
            "--port '81-tcp:1': no image of the pod exposes a port named '81-tcp' (exposed: 80-tcp, 53-udp, "
            "8080-tcp)");
  EXPECT_EQ(error_of([&] { resolve_port(parse_port_spec("http:1"), {}); }),
            "--port 'http:1': no image of the pod exposes a port named 'http' (they expose none)");
}

TEST(ResolvePort, DuplicateHostPorts) {
  EXPECT_NO_THROW(check_ports_unique({{"", 80, 80, "tcp"}, {"", 80, 80, "udp"}}));
  EXPECT_EQ(error_of([] { check_ports_unique({{"", 80, 80, "tcp"}, {"", 80, 81, "tcp"}}); }),
            "--port: host port 80/tcp is given twice");
  EXPECT_NO_THROW(check_ports_unique({{"127.0.0.1", 80, 80, "tcp"}, {"127.0.0.2", 80, 81, "tcp"}}))
      << "one port on two of the host's addresses";
  EXPECT_EQ(error_of([] {
              check_ports_unique({{"127.0.0.1", 80, 80, "tcp"}, {"", 80, 81, "tcp"}});
            }),
            "--port: host port 80/tcp is given twice");
  EXPECT_EQ(error_of([] {
              check_ports_unique({{"127.0.0.1", 80, 80, "tcp"}, {"127.0.0.1", 80, 81, "tcp"}});
            }),
            "--port: host port 80/tcp on 127.0.0.1 is given twice");
  EXPECT_EQ(error_of([] {
              check_ports_unique({{"0.0.0.0", 80, 80, "tcp"}, {"127.0.0.1", 80, 81, "tcp"}});
            }),
            "--port: host port 80/tcp is given twice");
}

// 0.0.0.0 is IPv4's every address and [::] IPv6's, as portmap forwards them
// and crt reserves them: one port on each is two ports.
TEST(ResolvePort, AnyAddressOfEachFamilyIsItsOwnPort) {
  EXPECT_NO_THROW(check_ports_unique({{"0.0.0.0", 80, 80, "tcp"}, {"::", 80, 80, "tcp"}}));
  EXPECT_NO_THROW(check_ports_unique({{"::", 80, 80, "tcp"}, {"127.0.0.1", 80, 81, "tcp"}}));
  EXPECT_NO_THROW(check_ports_unique({{"0.0.0.0", 80, 80, "tcp"}, {"2001:db8::1", 80, 81, "tcp"}}));
  EXPECT_EQ(error_of([] { check_ports_unique({{"::", 80, 80, "tcp"}, {"2001:db8::1", 80, 81, "tcp"}}); }),
            "--port: host port 80/tcp is given twice");
  EXPECT_EQ(error_of([] { check_ports_unique({{"::", 80, 80, "tcp"}, {"", 80, 81, "tcp"}}); }),
            "--port: host port 80/tcp is given twice")
      << "no HOSTIP is IPv6's port too once the pod has an IPv6 address";
  EXPECT_EQ(error_of([] { check_ports_unique({{"::", 80, 80, "tcp"}, {"::0", 80, 81, "tcp"}}); }),
            "--port: host port 80/tcp is given twice");
  EXPECT_EQ(error_of([] { check_ports_unique({{"2001:db8::1", 80, 80, "tcp"}, {"2001:DB8:0::1", 80, 81, "tcp"}}); }),
            "--port: host port 80/tcp on 2001:DB8:0::1 is given twice")
      << "one address, written two ways";
}

TEST(Dns, Validation) {
  DnsConfig d = make_dns_config({"1.1.1.1", "2606:4700::1111"}, {"example.com"}, {"ndots:2"});
  EXPECT_EQ(d.servers.size(), 2u);
  EXPECT_EQ(error_of([] { make_dns_config({"one"}, {}, {}); }), "invalid --dns 'one': not an IP address");
  EXPECT_NE(error_of([] { make_dns_config({}, {"a b"}, {}); }), "(no error)");
  EXPECT_NE(error_of([] { make_dns_config({}, {}, {"x\ny"}); }), "(no error)");
}

TEST(HostsEntry, Parse) {
  HostsEntry e = parse_hosts_entry("10.0.0.5=db.local");
  EXPECT_EQ(e.ip, "10.0.0.5");
  EXPECT_EQ(e.host, "db.local");
  EXPECT_EQ(parse_hosts_entry("::1=six").ip, "::1");
  EXPECT_EQ(error_of([] { parse_hosts_entry("db"); }), "invalid --hosts-entry 'db': no '=' (expected IP=HOST)");
  EXPECT_NE(error_of([] { parse_hosts_entry("x=db"); }), "(no error)");
  EXPECT_NE(error_of([] { parse_hosts_entry("10.0.0.5=a b"); }), "(no error)");
  EXPECT_NE(error_of([] { parse_hosts_entry("10.0.0.5="); }), "(no error)");
}

TEST(NetFlags, PortNeedsAPrivateNetwork) {
  PodFlags f;
  f.net = "host";
  f.ports = {"8080:80"};
  EXPECT_EQ(error_of([&] { validate_net_flags(f); }),
            "--port forwards to the pod's own network; there is none with --net=host");
  f.net = "none";
  EXPECT_NE(error_of([&] { validate_net_flags(f); }), "(no error)");
  f.net = "default";
  EXPECT_NO_THROW(validate_net_flags(f));
}

TEST(NetFlags, RecordedInTheManifest) {
  PodFlags f;
  f.net = "default,lan";
  f.ports = {"8080:80", "53-udp:5353"};
  f.dns = {"9.9.9.9"};
  f.dns_search = {"corp"};
  f.hosts_entries = {"10.1.1.1=db"};
  PodManifest m;
  apply_net_flags(m, f, {"53/udp"});
  EXPECT_EQ(m.net, "default,lan");
  ASSERT_EQ(m.ports.size(), 2u);
  EXPECT_EQ(m.ports[1].pod_port, 53);
  EXPECT_EQ(m.dns.servers, std::vector<std::string>{"9.9.9.9"});
  ASSERT_EQ(m.hosts_entries.size(), 1u);
  PodManifest back = parse_manifest(serialize(m));
  EXPECT_EQ(back.ports.size(), 2u);
  EXPECT_EQ(back.ports[1].protocol, "udp");
  EXPECT_EQ(back.dns.search, std::vector<std::string>{"corp"});
  EXPECT_EQ(back.hosts_entries[0].host, "db");
}

TEST(NetFlags, OldManifestsWithoutNetworkFieldsStillParse) {
  PodManifest m;
  m.net = "host";
  nlohmann::json j = crt::json_text::parse(serialize(m));
  j.erase("ports");
  j.erase("dns");
  j.erase("hosts_entries");
  PodManifest back = parse_manifest(j.dump());
  EXPECT_EQ(back.net, "host");
  EXPECT_TRUE(back.ports.empty());
}

}  // namespace
}  // namespace crt::pod
