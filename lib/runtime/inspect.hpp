#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/pods.hpp"

namespace crt::runtime {

/// The seed document's inspection of a pod as data: per app its host PID,
/// namespaces and whether they differ from the host's, capability sets by
/// name, no_new_privs, seccomp, user, cgroup with memory and CPU figures,
/// mounts (overlays with their layers), environment (secret-looking values
/// masked unless `show_env`) and its unit file. Every figure is read from
/// /proc and cgroupfs. The pod's network: its attachments, and the
/// interfaces, addresses and routes inside its namespace. `app`: only that app.
nlohmann::json inspect_pod(const PodEntry& pod, const std::string& app, bool show_env);

}  // namespace crt::runtime
