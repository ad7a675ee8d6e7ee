#include "mount/app_plan.hpp"

#include "common/error.hpp"

namespace crt::mount {

std::string output_socket(const std::string& app, bool is_stderr) {
  return std::string(is_stderr ? "stderr-" : "stdout-") + app;
}

std::vector<MountOp> app_mount_plan() {
  using K = MountOp::Kind;
  std::vector<MountOp> plan;
  plan.push_back({K::kTmpfs, "tmpfs", "/dev", "mode=755,size=65536k,nosuid,noexec", false});
  // Device nodes of the app's own, as nspawn makes stage1's: a bind mount
  // each would add a mount that every sandboxed start in the pod reads
  // through in /proc/self/mountinfo.
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty"})
    plan.push_back({K::kDevice, std::string("/dev/") + dev, std::string("/dev/") + dev, "", false});
  plan.push_back({K::kDevice, "/dev/net/tun", "/dev/net/tun", "", true});
  // nspawn's pseudo-terminal: a pty opens only through its devpts.
  plan.push_back({K::kBind, "/dev/console", "/dev/console", "", true});
  plan.push_back({K::kRecursiveBind, "/dev/pts", "/dev/pts", "", false});
  plan.push_back({K::kBind, "/dev/shm", "/dev/shm", "", false});
  plan.push_back({K::kSymlink, "pts/ptmx", "/dev/ptmx", "", false});
  plan.push_back({K::kSymlink, "/proc/self/fd", "/dev/fd", "", false});
  plan.push_back({K::kSymlink, "/proc/self/fd/0", "/dev/stdin", "", false});
  plan.push_back({K::kSymlink, "/proc/self/fd/1", "/dev/stdout", "", false});
  plan.push_back({K::kSymlink, "/proc/self/fd/2", "/dev/stderr", "", false});
  plan.push_back({K::kSymlink, "/run/systemd/journal/dev-log", "/dev/log", "", false});
  plan.push_back({K::kRecursiveBind, "/proc", "/proc", "", false});
  // A sysfs of its own, not stage1's: that one is nspawn's bind of the host's
  // when crt gives the pod its network namespace, and its /sys/class/net
  // would list the host's interfaces.
  plan.push_back({K::kSysfs, "sysfs", "/sys", "ro,nosuid,nodev,noexec", false});
  // Read-only: an app connects to the sockets, which a read-only mount
  // allows, but may not remove or replace stage1's (and so take the other
  // apps' logs, or break the pod's logging).
  plan.push_back({K::kBind, "/run/systemd/journal", "/run/systemd/journal", "", true, true});
  plan.push_back({K::kBind, "/run/systemd/notify", "/run/systemd/notify", "", true, true});
  plan.push_back({K::kBind, std::string(kPodEtc) + "/resolv.conf", "/etc/resolv.conf", "", true});
  plan.push_back({K::kBind, std::string(kPodEtc) + "/hosts", "/etc/hosts", "", false});
  plan.push_back({K::kBind, std::string(kPodEtc) + "/hostname", "/etc/hostname", "", false});
  plan.push_back({K::kSymlink, "../proc/self/mounts", "/etc/mtab", "", false});
  return plan;
}

std::string volume_target_problem(const std::string& target) {
  if (target == "/") return "target cannot be the app's root directory";
  // What the pod mounts for every app once its volumes are mounted
  // (prepare-app) would hide a volume there.
  for (const auto& op : app_mount_plan()) {
    if (op.kind == MountOp::Kind::kSymlink) continue;
    if (target == op.target || target.starts_with(op.target + "/"))
      return "the pod mounts " + quote(op.target) + " for every app: a volume on " + quote(target) + " would be hidden";
  }
  return {};
}

}  // namespace crt::mount
