#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pod/net_options.hpp"

namespace crt::net {

/// A CNI network: a plugin list as in a .conflist; a single-plugin .conf
/// becomes a list of one.
struct NetworkConfig {
  std::string name;
  std::string cni_version;  ///< empty when the file gives none (oldest configs)
  nlohmann::json plugins = nlohmann::json::array();  ///< plugin objects, in order
  std::string source;  ///< the file it came from, or "built-in"
};

/// The name of crt's own network.
inline constexpr const char* kDefaultNetwork = "default";

/// NetworkConfig::source of the built-in default network.
inline constexpr const char* kBuiltinSource = "built-in";

/// The built-in default network (rkt's): the ptp plugin with host-local IPAM
/// in 172.16.28.0/24 and a default route, followed by portmap for --port;
/// crt masquerades its pods' traffic (see crt_masquerades()).
NetworkConfig builtin_default_network();

/// Whether crt masquerades the traffic of pods on network `c` itself
/// (net/masquerade.hpp), after its plugins' ADD: the built-in default's.
bool crt_masquerades(const NetworkConfig& c);

/// Parses a network configuration file's content: a plugin list (.conflist)
/// or a single plugin (.conf, .json). Throws a crt::Error naming `source`.
NetworkConfig parse_network_config(const std::string& text, const std::string& source, bool is_list);

/// The networks defined in `dir` (*.conflist, *.conf, *.json, in file name
/// order; the first file naming a network wins), plus the built-in default
/// unless a file defines a network of that name. The default comes first.
std::vector<NetworkConfig> load_networks(const std::filesystem::path& dir);

/// The networks `spec` asks for, in interface order (eth0, eth1 …); throws
/// when one is not defined.
std::vector<NetworkConfig> select_networks(const pod::NetSpec& spec, const std::vector<NetworkConfig>& available,
                                           const std::filesystem::path& dir);

/// Compares CNI spec versions ("0.3.1" < "1.0.0"); an empty one is "0.1.0".
int compare_versions(const std::string& a, const std::string& b);

/// Whether a plugin object declares runtime capability `cap`.
bool has_capability(const nlohmann::json& plugin, const std::string& cap);

}  // namespace crt::net
