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
    kDevice,          ///< a device node like `source` at `target` (bound where it cannot be made)
    kRecursiveBind,   ///< same, with everything mounted below `source`
    kSymlink,         ///< create symlink `target` -> `source`, replacing nothing
  };
  Kind kind;
  std::string source;
  std::string target;
  std::string options;    ///< tmpfs options
  bool optional = false;  ///< skip when `source` does not exist in stage1
  bool read_only = false;  ///< a bind: read-only
};

/// Where stage1 has the resolv.conf, hosts and hostname crt generates for
/// the pod's apps (a tmpfs crt mounts there).
inline constexpr const char* kPodEtc = "/crt/etc";

/// The file crt writes last into kPodEtc, once the pod's network is up and
/// a prepare-app waits (so its systemd takes an orderly stop): prepare-app
/// waits for it.
inline constexpr const char* kPodEtcLastFile = "hosts";

/// A socket in kPodEtc that crt listens on until it has written
/// kPodEtcLastFile. prepare-app connects to it while it waits: when the
/// connection breaks and the file is not there, crt went away before the
/// pod had started, and the app fails (which ends the pod: the orderly stop
/// nspawn passes on when crt dies is lost so early in the pod's boot). crt
/// writes kPodEtcLastFile only once that stop would be taken: at the first
/// connection (the pod's systemd runs units), or when the pod's init blocks
/// the signal, whichever is first.
inline constexpr const char* kPodStarterSocket = "starting";

/// The socket in kPodEtc that crt listens on for an interactive pod without
/// a terminal: the app's unit connects its stdin to it
/// (StandardInput=file:…), and crt relays its own stdin. Its stdout and
/// stderr go to output_socket() as in any pod without a terminal.
inline constexpr const char* kPodStdinSocket = "stdin";

/// The socket in kPodEtc that app `app`'s unit connects its stdout (or
/// stderr) to in a pod whose apps do not have the user's terminal
/// (PodManifest::output_sockets):
/// crt copies what comes to its own stdout (stderr) and to the pod's
/// journal.
std::string output_socket(const std::string& app, bool is_stderr);

/// A socket in kPodEtc where app-exited asks crt, with "APP\n", to have
/// all that app APP wrote in the pod's journal; crt answers "\n" once it
/// is (or cannot be).
inline constexpr const char* kPodOutputFlushSocket = "output-flush";

/// What prepare-app does to an app rootfs, in order: /dev with the usual
/// device nodes, pts, shm and symlinks; /proc and /sys; the journal and
/// notify sockets; /etc/resolv.conf, /etc/hosts, /etc/hostname; /etc/mtab.
std::vector<MountOp> app_mount_plan();

/// Why a volume cannot be mounted on `target`, a normalized absolute path
/// in the app's rootfs (as given, or where the image's symlinks lead):
/// the app's root, or a place app_mount_plan() mounts over; empty if it can.
std::string volume_target_problem(const std::string& target);

}  // namespace crt::mount
