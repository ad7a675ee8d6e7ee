#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace crt::cgroup {

/// One device a cgroup's processes may use, as DeviceAllow= says it.
struct DeviceRule {
  char type;                      ///< 'c' (character) or 'b' (block)
  std::optional<uint32_t> major;  ///< none: any
  std::optional<uint32_t> minor;  ///< none: any
  unsigned access;                ///< kMknod | kRead | kWrite
};

inline constexpr unsigned kMknod = 1, kRead = 2, kWrite = 4;  // BPF_DEVCG_ACC_*

/// What a pod may use where nothing else restricts it: the devices
/// systemd's DevicePolicy=closed allows (null, zero, full, random, urandom,
/// tty, ptmx and the 0:0 nodes systemd makes for InaccessiblePaths=), and
/// nspawn's tun and ptys (majors 136 to 143).
std::vector<DeviceRule> pod_device_rules();

/// The BPF program that allows `rules` and denies every other device: the
/// cgroup v2 device controller.
std::vector<bpf_insn> device_filter_program(const std::vector<DeviceRule>& rules);

/// Loads that program and attaches it to the cgroup2 directory `cgroup_dir`
/// (an fd), with BPF_F_ALLOW_MULTI, for it and every cgroup below it. The
/// kernel keeps it as long as the cgroup exists. Throws SystemError.
void attach_device_filter(int cgroup_dir, const std::vector<DeviceRule>& rules);

}  // namespace crt::cgroup
