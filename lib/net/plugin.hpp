#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/subprocess.hpp"
#include "net/config.hpp"

namespace crt::net {

/// Where plugins are searched, in order (the CNI_PATH crt passes).
std::vector<std::filesystem::path> plugin_dirs(const std::filesystem::path& config_dir);

/// What the plugins of one attachment of a pod to a network are told.
struct Invocation {
  std::string container_id;  ///< CNI_CONTAINERID
  std::string netns;         ///< CNI_NETNS; may be empty for DEL (namespace gone)
  std::string ifname;        ///< CNI_IFNAME
  std::string args;          ///< CNI_ARGS
  std::vector<std::filesystem::path> dirs;  ///< CNI_PATH
  /// The pod's lock (its directory's flock), which each plugin holds too:
  /// a pod whose crt was killed while a plugin ran stays locked, and so out
  /// of gc's reach, until the plugin (and what it started) is done with its
  /// network. -1: none (a pod that is gone).
  int pod_lock_fd = -1;
  /// How long each plugin may take (0: no limit): one that takes longer is
  /// killed, and fails.
  TimeLimit time_limit{};
};

/// The plugin binary `type` in `dirs`; throws if there is none.
std::filesystem::path find_plugin(const std::string& type, const std::vector<std::filesystem::path>& dirs);

/// Runs one plugin per the CNI spec: CNI_* in its environment, `config` on
/// stdin. Returns its result (null when it prints none, as DEL may). A
/// failure becomes a crt::Error "plugin 'TYPE' failed: MSG" from the plugin's
/// error object, or from its output when it gives none.
nlohmann::json exec_plugin(const std::string& command, const nlohmann::json& config, const Invocation& inv);

/// ADD of a network: its plugins in order, each given the previous one's
/// result; `runtime_config` entries reach the plugins declaring that
/// capability (portMappings). Returns the last plugin's result.
nlohmann::json add_network(const NetworkConfig& net, const Invocation& inv, const nlohmann::json& runtime_config);

/// DEL of a network: its plugins in reverse order, each given the ADD's
/// result (`prev_result`, null if unknown). Idempotent per the CNI spec.
/// Each plugin runs even when one before it failed; the error names every
/// plugin that failed, in the order they ran.
void del_network(const NetworkConfig& net, const Invocation& inv, const nlohmann::json& runtime_config,
                 const nlohmann::json& prev_result);

/// The configuration plugin `index` of `net` is given (name, cniVersion,
/// prevResult and runtimeConfig added as libcni does).
nlohmann::json plugin_config(const NetworkConfig& net, size_t index, const nlohmann::json& prev_result,
                             const nlohmann::json& runtime_config, const std::string& command);

}  // namespace crt::net
