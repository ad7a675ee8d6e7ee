#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "pod/manifest.hpp"
#include "unit/unit_file.hpp"

namespace crt::pod {

/// Where stage1 finds crt's helpers and the app rootfs.
inline constexpr const char* kStage1HelperDir = "/usr/lib/crt";
inline constexpr const char* kStage2Dir = "/opt/stage2";
/// Where crt writes a pod's units inside stage1.
inline constexpr const char* kStage1UnitDir = "etc/systemd/system";

/// The devices the host's unit of a pod allows besides systemd's standard
/// ones under DevicePolicy=closed (null, zero, full, random, urandom, tty,
/// ptmx): what nspawn allows its containers (tun, ptys), and where crt run
/// itself runs in the unit (crt@.service, pod files' units, detached
/// services; not the pod's scope) the kernel's log, read-only, for its
/// report of an app the OOM killer killed. Every unit a pod runs in gets
/// it: on a cgroup v2 host it is the pod's only device policy, since the
/// pod's systemd cannot load BPF programs (the pod's system call filter, as
/// nspawn's, denies bpf) to apply its apps' DevicePolicy=.
std::vector<std::pair<std::string, std::string>> host_unit_devices(bool crt_in_unit);

/// A CPUQuota= value for millicores: 1500 -> "150%", 1 -> "0.1%".
std::string cpu_quota(uint64_t millis);

/// The rootfs of app `name` as stage1 sees it.
std::string app_rootfs_in_stage1(const std::string& name);

/// How long an app may take to stop when the pod's stop may take
/// `pod_stop`: all of it but what the rest of the pod's shutdown needs (up to
/// 10 s, half of a short one), so that the app's systemd, not the kill of
/// the whole pod, ends an app that takes too long, and its end is recorded.
std::chrono::milliseconds app_stop_timeout(std::chrono::milliseconds pod_stop);

/// `t` as systemd reads it: "10s", "1500ms".
std::string systemd_duration(std::chrono::milliseconds t);

/// The unit of one app: its command, environment, user, limits and the
/// default sandbox, all in unit directives.
unit::UnitFile app_unit(const PodManifest& pod, const AppManifest& app,
                        std::chrono::milliseconds pod_stop = kDefaultStopTimeout);

/// prepare-app@.service: readies an app rootfs before the app starts.
unit::UnitFile prepare_app_unit();

/// app-success@.service and app-failure@.service: started by an app's
/// OnSuccess=/OnFailure= to record its exit and apply the pod's exit policy
/// (an app that is never restarted has its ExecStopPost= do that, and only
/// OnFailure=, in case that did not get to the end).
unit::UnitFile app_exited_unit(const PodManifest& pod);

/// default.target of the pod: wants the journal, requires every app.
unit::UnitFile default_target(const PodManifest& pod);

/// pod-reboot.service, which stage1's ctrl-alt-del.target (machinectl
/// reboot) starts: stops every app in order and starts them again, their
/// records of the run before forgotten.
unit::UnitFile pod_reboot_unit(const PodManifest& pod);

/// stage1's /etc/passwd and /etc/group for a pod: systemd in stage1 resolves
/// each app's numeric User=/Group= there, so every app uid and gid gets an
/// entry ("crt-uid-N"); the app itself sees only its image's files.
std::string stage1_passwd(const PodManifest& pod);
std::string stage1_group(const PodManifest& pod);

/// Every unit crt writes for a pod, by file name.
std::vector<std::pair<std::string, unit::UnitFile>> pod_units(const PodManifest& pod,
                                                              std::chrono::milliseconds pod_stop = kDefaultStopTimeout);

}  // namespace crt::pod
