#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace crt::pod {

/// One network named in --net=NAME[:ARGS]; ARGS become the plugins'
/// CNI_ARGS ("K=V;K=V").
struct NetworkSelection {
  std::string name;
  std::string args;
};

/// A parsed --net value: "host", "none", "all", or networks "NAME[:ARGS],…"
/// whose interfaces are eth0, eth1 … in that order.
struct NetSpec {
  enum class Mode { kHost, kNone, kNetworks };
  Mode mode = Mode::kNetworks;
  bool all = false;  ///< every configured network (the default network first)
  std::vector<NetworkSelection> networks;
  /// The pod has a network namespace of its own, set up by CNI plugins.
  [[nodiscard]] bool cni() const { return mode == Mode::kNetworks; }
};

/// Parses --net; throws a crt::Error naming what is wrong.
NetSpec parse_net_spec(const std::string& spec);

/// --port as the user wrote it: "[HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]" or
/// "NAME:[HOSTIP:]HOSTPORT" with NAME an image's exposed port ("80-tcp" or
/// "80/tcp").
struct PortSpec {
  std::string text;
  std::string name;  ///< set for the NAME form; pod_port and protocol then come from the image
  std::string host_ip;
  uint16_t host_port = 0;
  uint16_t pod_port = 0;
  std::string protocol = "tcp";
};

PortSpec parse_port_spec(const std::string& text);

/// A port of the host forwarded to the pod.
struct PortMapping {
  std::string host_ip;  ///< empty: every address of the host
  uint16_t host_port = 0;
  uint16_t pod_port = 0;
  std::string protocol = "tcp";
};

/// "host port 80/tcp", "host port 80/tcp on 127.0.0.1": the port as
/// messages name it.
std::string host_port_text(const PortMapping& p);

/// Resolves a NAME form against the images' exposed ports ("80/tcp", "53/udp",
/// "8080"); passes the numeric form through.
PortMapping resolve_port(const PortSpec& spec, const std::vector<std::string>& exposed_ports);

/// Whether `a` and `b` forward the same port of the host: one host port on
/// two of the host's addresses is two ports; without HOSTIP it is every
/// address's, on 0.0.0.0 every IPv4 address's and on :: every IPv6
/// address's (so 0.0.0.0 and :: do not clash). Names the port ("host port
/// 80/tcp", "host port 80/tcp on 127.0.0.1") when they do.
std::optional<std::string> port_clash(const PortMapping& a, const PortMapping& b);

/// Throws unless no two ports clash (port_clash()).
void check_ports_unique(const std::vector<PortMapping>& ports);

/// /etc/resolv.conf settings given with --dns, --dns-search and --dns-opt.
struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

/// Checks each value: servers are IP addresses, the others single words.
DnsConfig make_dns_config(const std::vector<std::string>& servers, const std::vector<std::string>& search,
                          const std::vector<std::string>& options);

/// An /etc/hosts line added with --hosts-entry IP=HOST.
struct HostsEntry {
  std::string ip;
  std::string host;
};

HostsEntry parse_hosts_entry(const std::string& text);

/// Whether `s` is an IPv4 or IPv6 address.
bool is_ip_address(const std::string& s);

void to_json(nlohmann::json& j, const PortMapping& v);
void from_json(const nlohmann::json& j, PortMapping& v);
void to_json(nlohmann::json& j, const DnsConfig& v);
void from_json(const nlohmann::json& j, DnsConfig& v);
void to_json(nlohmann::json& j, const HostsEntry& v);
void from_json(const nlohmann::json& j, HostsEntry& v);

}  // namespace crt::pod
