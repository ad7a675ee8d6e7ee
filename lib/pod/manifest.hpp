#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pod/net_options.hpp"
#include "pod/volumes.hpp"
#include "sandbox/seccomp.hpp"

namespace crt::pod {

/// How long crt run waits for a pod it was asked to stop (SIGINT, SIGTERM,
/// its output's reader gone) before it kills the pod (--stop-timeout); its
/// apps get most of it (app_stop_timeout()). Shorter than crt@.service's.
inline constexpr std::chrono::milliseconds kDefaultStopTimeout{20000};
/// How much longer than crt run's stop timeout a unit running it waits
/// (TimeoutStopSec=, EXTEND_TIMEOUT_USEC=): crt kills the pod then, and
/// only cleans up after. The cleanup tears the pod's network down, where
/// each plugin and iptables run may take net::kPluginTimeLimit (30 s) and
/// then 6 s to be killed (run_program()): one that hangs is to be killed
/// by crt, and the network left to crt gc, not crt by systemd halfway.
/// Each such run asks for its time again (runtime::cleanup_renewal()).
inline constexpr std::chrono::milliseconds kStopCleanup{45000};

/// An image as a pod uses it: pinned by id, with its layers.
struct ImageRef {
  std::string name;
  std::string id;
  std::vector<std::string> layers;  ///< diff_ids, lowest first
};

using EnvList = std::vector<std::pair<std::string, std::string>>;

/// Everything needed to run one app, as recorded in the pod manifest.
struct AppManifest {
  std::string name;
  ImageRef image;
  std::vector<std::string> argv;  ///< argv[0] as the image or user gave it
  std::string exec_path;          ///< absolute binary path in the app rootfs, once resolved
  EnvList env;
  std::string user = "0";   ///< as requested: number or name
  std::string group;        ///< as requested; empty: the user's primary group
  std::optional<uint32_t> uid;  ///< resolved in the image
  std::optional<uint32_t> gid;
  std::string working_dir = "/";
  std::optional<uint64_t> memory_max;
  std::optional<uint64_t> cpu_millis;
  sandbox::SyscallFilter seccomp;
  std::vector<std::string> capabilities;
  /// The namespace types the app may make (RestrictNamespaces=); nullopt:
  /// any ("all" in the manifest; one without the key gets the default).
  sandbox::AllowedNamespaces allowed_namespaces;
  std::string restart = "no";  ///< systemd's Restart=: no, on-failure, always
  std::vector<VolumeMount> mounts;
  bool readonly_rootfs = false;
  bool notify = false;  ///< Type=notify
  std::vector<uint32_t> supplementary_gids;
  std::optional<int> oom_score_adj;
  std::optional<uint64_t> cpu_shares;
  std::optional<uint64_t> pids_limit;
  std::vector<std::string> exposed_ports;  ///< from the image, for networking
  std::vector<std::string> image_volumes;  ///< paths the image declares as volumes
  std::string stop_signal;                 ///< from the image; empty: SIGTERM
};

/// The pod manifest (pod.json in the pod directory).
struct PodManifest {
  std::string uuid;
  std::string name;  ///< given by the user (--pod-name); also the machine name
  std::string created;
  std::string crt_version;
  ImageRef stage1;
  std::vector<AppManifest> apps;
  std::vector<Volume> volumes;
  std::string net = "default";  ///< --net as given (see NetSpec)
  std::vector<PortMapping> ports;
  DnsConfig dns;
  std::vector<HostsEntry> hosts_entries;
  std::string hostname;
  bool interactive = false;
  /// For an interactive pod: its app has a terminal (the pod's console,
  /// relayed to the user's; see terminal_to_journal); else crt relays
  /// stdin through a socket, mount::kPodStdinSocket, and stdout and stderr
  /// as output_sockets says.
  bool interactive_tty = true;
  /// A pod whose apps do not have the user's terminal: their stdout and
  /// stderr go to sockets crt listens on (mount::output_socket()), and crt
  /// copies them to its own output and into the pod's journal, byte for
  /// byte. False: with a terminal, the app writes to it; else the apps'
  /// units write to the journal, which crt follows (pods started by a crt
  /// before this), or to crt run alone (interactive pods of such a crt).
  bool output_sockets = false;
  /// An interactive pod on a terminal: crt is between the user's terminal
  /// and the pod's console (runtime::PodTerminal) and copies the app's
  /// output into the pod's journal. False for such pods of an older crt:
  /// their output went to crt run alone.
  bool terminal_to_journal = false;
  std::string exit_policy = "on-any-failure";
  /// The apps' SystemCallArchitectures= (sandbox::kernel_syscall_architectures()
  /// when the pod starts); empty: none, every architecture systemd knows.
  std::vector<std::string> syscall_architectures;
  /// The host's boot (kernel boot_id) during which the apps ran on overlays
  /// that skip syncing: only that boot's page cache surely holds all they
  /// wrote. Empty when their overlays synced.
  std::string unsynced_boot;
  /// The stop timeout of the pod's last start (--stop-timeout), which its
  /// apps' units were written for; unset in a pod never started.
  std::optional<std::chrono::milliseconds> stop_timeout;
  /// Its last start was crt run --rm's: the pod goes once it has ended
  /// (by crt run, else by the next crt gc, without a grace period).
  bool remove_at_end = false;

  [[nodiscard]] std::string machine_name() const { return name.empty() ? "crt-" + uuid : name; }
};

void to_json(nlohmann::json& j, const ImageRef& v);
void from_json(const nlohmann::json& j, ImageRef& v);
void to_json(nlohmann::json& j, const AppManifest& v);
void from_json(const nlohmann::json& j, AppManifest& v);
void to_json(nlohmann::json& j, const PodManifest& v);
void from_json(const nlohmann::json& j, PodManifest& v);

std::string serialize(const PodManifest& m);
PodManifest parse_manifest(const std::string& text);

/// Whether an environment variable's name looks like it holds a secret (it
/// has PASSWORD, SECRET, TOKEN, KEY, AUTH, PASS … in it, in any case): crt
/// inspect and crt cat-manifest show its value as "***" unless asked for it
/// (--show-env).
bool looks_secret(std::string_view name);

/// The manifest `text` (a pod.json), as serialize() writes it, with the
/// values of its apps' variables that look_secret() shown as "***".
std::string mask_secret_env(const std::string& text);

/// Throws unless `name` is a valid app name: 1-63 lowercase letters, digits
/// and '-', starting with a letter or digit (it becomes a unit name and a path).
void validate_app_name(const std::string& name);

/// Throws unless `name` is valid as a pod's name (its machine name) or
/// host name, by systemd's rules for both: at most 64 letters, digits, '-'
/// and '.', in labels separated by single dots, none starting with '.' or
/// '-' nor ending in '-'. `what` names it in the message ("pod name").
void validate_host_name(const std::string& what, const std::string& name);

/// Throws unless `name` is valid as a pod's name: a host name
/// (validate_host_name) not made only of hex digits and '-', which would
/// read as a pod's UUID or a prefix of one wherever a pod is named, nor
/// "crt-UUID", the machine name of a pod without a name.
void validate_pod_name(const std::string& name);

}  // namespace crt::pod
