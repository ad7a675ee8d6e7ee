#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace crt::runtime {

/// The host PID of a running pod's systemd: the child of its nspawn that is
/// PID 1 of a namespace of its own (before that, nspawn's child is its
/// helper, in the host's namespaces).
std::optional<pid_t> pod_leader(pid_t nspawn_pid);

/// Runs stage1's own systemctl against the pod's systemd (in the pod's mount
/// namespace, over its private socket) and returns what it printed.
std::string pod_systemctl(pid_t leader, const std::vector<std::string>& args);

}  // namespace crt::runtime
