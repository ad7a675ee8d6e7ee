#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "common/message.hpp"
#include "pod/manifest.hpp"

namespace crt::runtime {

/// What the host offers a pod: a systemd to register it with, and whether
/// crt already runs inside a unit of its own.
struct HostMode {
  bool systemd = false;  ///< the host was booted with systemd (sd_booted()): pods are machines
  bool in_unit = false;  ///< crt is the main process of a service that delegates to it (crt@.service, a generated unit)
  std::string unit;      ///< that service
  bool unit_limits_devices = false;  ///< in_unit, and the unit has a device policy
  bool unified = false;              ///< the host has the unified cgroup hierarchy alone (cgroup v2)
  std::string cgroup;    ///< crt's own cgroup, relative to the hierarchy root ("" if unknown)
  cgroup::Layout layout;  ///< the cgroup hierarchies, read once (mountinfo) for all of a start
};

/// Looks at the host and at crt's own process.
HostMode detect_host();

/// This boot of the host (/proc/sys/kernel/random/boot_id).
std::string boot_id();

/// Whether a process in `unit` (sd_pid_get_unit) runs inside a service crt
/// should keep (nspawn --keep-unit), rather than a login session or a user
/// manager.
bool is_service_unit(const std::string& unit);

/// The cgroup nspawn puts a pod's init in on a systemd host, relative to the
/// hierarchy root: "payload" below the machine's scope, or below the unit crt
/// runs in.
std::string payload_cgroup(const HostMode& host, const std::string& machine_name);

/// In a unit on a cgroup-v2-only host, crt moves into "supervisor" below
/// its unit's cgroup, where nspawn goes too: a cgroup that holds processes
/// cannot pass controllers on to the pod's "payload". nspawn then enables
/// every controller it can in the unit's cgroup, as in
/// systemd-nspawn@.service; while they stay enabled, no process can join
/// that cgroup, and the unit's next command (a oneshot's second `crt run`,
/// ExecStart= after an ExecStartPre= one) would fail to start. restore()
/// (or the destructor), once the pod's cgroup is gone, disables those that
/// were not enabled before (a crt killed leaves them: the unit's next
/// command then fails to start, its restart does not). Elsewhere it does
/// nothing.
class UnitCgroupRoot {
 public:
  explicit UnitCgroupRoot(const HostMode& host);
  ~UnitCgroupRoot() { restore(); }
  UnitCgroupRoot(const UnitCgroupRoot&) = delete;
  UnitCgroupRoot& operator=(const UnitCgroupRoot&) = delete;
  /// Why a controller could not be disabled (a cgroup below still uses
  /// it, say), or nothing.
  std::optional<std::string> restore() noexcept;

 private:
  std::filesystem::path dir_;     ///< empty: nothing to restore
  std::set<std::string> before_;  ///< what its cgroup.subtree_control enabled
};

/// Where nspawn starts in a unit on a cgroup-v2-only host: the unit's own
/// cgroup, which crt left (UnitCgroupRoot). nspawn --keep-unit makes
/// "payload" and "supervisor" below the cgroup it starts in, and moves
/// itself to "supervisor": started in crt's, it would put the pod below
/// crt's "supervisor", not where payload_cgroup() says. Elsewhere empty:
/// nspawn starts in crt's cgroup.
cgroup::CgroupEntry nspawn_start_cgroup(const HostMode& host);

/// Without systemd on a cgroup v2 host nothing else keeps the pod from the
/// host's devices: no unit of the host's has a DevicePolicy=, and the pod's
/// systemd cannot apply its apps' (that takes BPF, which the pod's system
/// call filter denies). crt attaches the device filter to the pod's cgroup
/// itself, as runc does; where the kernel refuses, it warns.
void restrict_pod_devices(const HostMode& host, const cgroup::PodCgroup& cg, const MessageSink& messages);

/// On a cgroup v2 host, warns of the limits the pod's apps ask for that its
/// cgroup cannot keep, for want of a controller the host did not pass on
/// (a slice's DisableControllers=, a unit's DelegateControllers=, a cgroup
/// namespace whose root holds processes). `leader` is the pod's init, in
/// nspawn's "payload" by now.
void warn_of_missing_controllers(pid_t leader, const pod::PodManifest& m, const MessageSink& messages);

}  // namespace crt::runtime
