#pragma once

#include <string>
#include <vector>

namespace crt::mount {

/// One step of preparing an app rootfs. Targets are paths inside the app
/// rootfs; sources are paths in stage1.
struct MountOp {
  enum class Kind {
    kTmpfs,           ///< mount a tmpfs with `options` on directory `target`
    kSysfs,           ///< mount a new sysfs with `options` on directory `target`
    kBind,            ///< bind `source` on `target` (a file or directory like the source)
    kRecursiveBind,   ///< same, with everything mounted below `source`
    kSymlink,         ///< create symlink `target` -> `source`, replacing nothing
  };
  Kind kind;
  std::string source;
  std::string target;
  std::string options;    ///< tmpfs options
  bool optional = false;  ///< skip when `source` does not exist in stage1
};

/// Where stage1 sees the pod directory's etc/: the resolv.conf, hosts and
/// hostname crt generates for the pod's apps.
inline constexpr const char* kPodEtc = "/crt/etc";

/// The file crt writes last into kPodEtc, once the pod's network is up;
/// prepare-app waits for it.
inline constexpr const char* kPodEtcLastFile = "hosts";

/// What prepare-app does to an app rootfs, in order: /dev with the usual
/// device nodes, pts, shm and symlinks; /proc and /sys; the journal and
/// notify sockets; /etc/resolv.conf, /etc/hosts, /etc/hostname; /etc/mtab.
std::vector<MountOp> app_mount_plan();

}  // namespace crt::mount
