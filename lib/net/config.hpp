#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

/// A file of net.d that defines no usable network.
struct BrokenNetworkFile {
  std::string file;
  std::string name;   ///< the network it names, when that much can be read
  std::string error;  ///< parse_network_config()'s, naming the file
};

/// What a net.d directory defines.
struct NetworkDirectory {
  std::filesystem::path dir;
  /// The default first, then the others in file name order.
  std::vector<NetworkConfig> networks;
  /// Files that could not be used, in file name order; each network a
  /// broken file is the first to name is left out of `networks`.
  std::vector<BrokenNetworkFile> broken;
};

/// The networks defined in `dir` (*.conflist, *.conf, *.json, in file name
/// order; the first file naming a network wins, a broken one included),
/// plus the built-in default unless a file names a network of that name.
/// A broken file does not keep the other networks from being used (as
/// podman skips it); select_networks() says what it means for a pod.
NetworkDirectory load_networks(const std::filesystem::path& dir);

/// The networks `spec` asks for, in interface order (eth0, eth1 …); throws
/// when one is not defined or its file is broken ("all" takes every one, so
/// any broken file that names a network). Each broken file passed over
/// gets a warning through `warn`.
std::vector<NetworkConfig> select_networks(const pod::NetSpec& spec, const NetworkDirectory& available,
                                           const std::function<void(const std::string&)>& warn);

/// Compares CNI spec versions ("0.3.1" < "1.0.0"); an empty one is "0.1.0".
int compare_versions(const std::string& a, const std::string& b);

/// Whether a plugin object declares runtime capability `cap`.
bool has_capability(const nlohmann::json& plugin, const std::string& cap);

}  // namespace crt::net
