#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "pod/manifest.hpp"

namespace crt::runtime {

/// The host PID of an app's main process in the running pod of directory
/// `pod_dir`: the process of the app's service cgroup whose parent is
/// outside it (the pod's systemd), once it runs the app's program; none
/// before systemd has executed it, or while only the app's exit recorder
/// runs there.
std::optional<pid_t> app_main_pid(const std::filesystem::path& pod_dir, const pod::PodManifest& m,
                                  const std::string& app);
/// The same, in the pod's cgroup `pod` (wherever the pod runs: in a scope
/// of machine.slice, or under the host unit crt runs in).
std::optional<pid_t> app_main_pid(const cgroup::PodCgroup& pod, const std::string& app);

/// /proc/PID/status as fields ("SigBlk" -> "0000…"); empty once the
/// process is gone.
std::map<std::string, std::string> proc_status(pid_t pid);

/// A hexadecimal mask of proc_status ("CapBnd", "SigBlk"), or `missing`
/// where the field is absent or not a number.
uint64_t status_mask(const std::map<std::string, std::string>& status, const std::string& field, uint64_t missing = 0);

/// Whether the pod's init `leader` (its host PID) takes an orderly stop
/// (SIGRTMIN+3, which nspawn sends on its first SIGTERM) or is gone. A
/// namespace's init only receives a signal it blocks (for its signalfd) or
/// handles: asked earlier in its boot, the pod would not stop.
bool takes_orderly_stop(pid_t leader);

/// The app `name`, or the only app when `name` is empty; throws if none.
const pod::AppManifest& pick_app(const pod::PodManifest& m, const std::string& name);

/// /proc/PID/cgroup, one entry per hierarchy the host has mounted.
struct CgroupMembership {
  std::string controllers;  ///< "memory", "cpu,cpuacct", "name=systemd", "" for cgroup2
  std::string path;         ///< as /proc/PID/cgroup gives it
  std::string dir;          ///< the cgroup's directory: mount point + path
  bool v2 = false;
};
std::vector<CgroupMembership> cgroups_of(pid_t pid);

}  // namespace crt::runtime
