#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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

/// True if `value`, as inspect_pod() reports resource figure `key`, means
/// "no limit": cgroup v2's "max", v1's -1 quota, or v1's largest memory
/// limit (9223372036854771712 with 4 KiB pages).
bool is_no_limit(std::string_view key, std::string_view value);

}  // namespace crt::runtime
