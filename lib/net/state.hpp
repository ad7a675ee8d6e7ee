#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/config.hpp"
#include "net/result.hpp"
#include "pod/net_options.hpp"

namespace crt::net {

/// One network a pod is attached to (or being attached to).
struct Attachment {
  NetworkConfig config;  ///< as the plugins were given it: later edits of the file do not matter
  std::string ifname;
  std::string args;                 ///< CNI_ARGS
  nlohmann::json runtime_config = nlohmann::json::object();  ///< e.g. portMappings
  nlohmann::json result;            ///< the ADD's result; null until it succeeded
  bool attempted = false;           ///< ADD has begun: DEL is due
  /// Why the ADD failed; empty unless it did. (Begun without a result or
  /// this, the ADD may have finished: crt was killed before it saved the
  /// result.)
  std::string add_error;
  /// Read from an older crt's file, which did not note ADD errors: one
  /// without a result is taken to have failed, as that crt took it.
  bool add_error_unnoted = false;
};

/// A pod's network as saved in its directory (net.json): written before the
/// first plugin runs and updated after each, it is all that tearing the
/// network down needs, however the pod ended.
struct NetworkState {
  std::string container_id;  ///< CNI_CONTAINERID: "crt-<uuid>"
  std::string netns;         ///< the namespace's name under /run/netns
  std::vector<std::filesystem::path> plugin_dirs;
  std::vector<Attachment> attachments;  ///< in interface order
  bool torn_down = false;
};

/// What `crt status` and `crt list` show of one attachment.
struct NetworkSummary {
  std::string name;
  std::string ifname;
  std::string ip4;
  std::string ip6;
  /// The network is torn down: its addresses were the pod's, and may be
  /// another pod's by now.
  bool released = false;
};

/// A host port a pod's network forwards (portmap), for display.
struct PublishedPort {
  std::string network;
  std::string host_ip;  ///< as forwarded: "0.0.0.0" or "::" for a port of every address
  uint16_t host_port = 0;
  uint16_t pod_port = 0;
  std::string protocol;  ///< tcp, udp
  /// The network is torn down: nothing is forwarded, and the port may be
  /// another's by now.
  bool released = false;
};

/// The state file of the pod directory `pod_dir`.
std::filesystem::path state_file(const std::filesystem::path& pod_dir);

/// Reads a pod's network state; nullopt when the pod has none (host or
/// none networking, or never started). Throws on a damaged file.
std::optional<NetworkState> read_state(const std::filesystem::path& pod_dir);

void write_state(const std::filesystem::path& pod_dir, const NetworkState& state);

/// The attachments that have an address, for display.
std::vector<NetworkSummary> summarize(const NetworkState& state);

/// "default:ip4=172.16.28.2,other:ip4=10.1.0.3" (rkt's form).
std::string summary_string(const std::vector<NetworkSummary>& nets);

/// The ports attachment `a` forwards, as its portmap was given them
/// (runtime_config's portMappings); none without.
std::vector<pod::PortMapping> port_mappings_of(const Attachment& a);

/// The host addresses portmap forwards a port of host address `host_ip` on,
/// to a pod with addresses of families `f`: `host_ip` itself, or without
/// one (every address) "0.0.0.0" and "::" for each family the pod has an
/// address of (IPv4's first), as portmap forwards to each.
std::vector<std::string> forwarded_host_ips(const std::string& host_ip, Result::Families f);

/// The host ports the attachments that have a result forward, in the order
/// given, each in the address families it is forwarded in: one of every
/// address in each the pod has an address of (IPv4's first).
std::vector<PublishedPort> published_ports(const NetworkState& state);

/// "0.0.0.0:8080->80/tcp", "[::]:8080->80/tcp" (as docker and podman show
/// a port).
std::string port_string(const PublishedPort& p);

/// port_string() of each, comma-separated; ":released" after each of a
/// network torn down (as summary_string()).
std::string ports_string(const std::vector<PublishedPort>& ports);

/// The ports in JSON, as crt status and crt inspect give them:
/// [{network, host_ip, host_port, pod_port, protocol, released}].
nlohmann::json ports_json(const std::vector<PublishedPort>& ports);

}  // namespace crt::net
