#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/message.hpp"
#include "net/pod_network.hpp"
#include "runtime/pods.hpp"

namespace crt::runtime {

struct RemoveOptions {
  /// Remove the pod also when a network's plugin fails to tear its part
  /// down (crt rm --force): a warning says what may stay.
  bool force = false;
  MessageSink messages;  ///< warnings
  /// How long each plugin and iptables run of the network's teardown may
  /// take (0: no limit): one that takes longer is killed, and the teardown
  /// fails (a warning with `force`).
  std::chrono::milliseconds network_time_limit = net::kPluginTimeLimit;
};

/// Removes a pod that is not running, with whatever it left on the host:
/// its networks, mounts (deepest first, lazily), processes and cgroups, the
/// journal link nspawn made. Throws if it is running or being prepared.
void remove_pod(const std::filesystem::path& state_dir, const PodEntry& pod, const RemoveOptions& opts = {});
/// remove_pod(), but false where another process holds the pod (or has
/// moved or removed it) instead of an error.
bool try_remove_pod(const std::filesystem::path& state_dir, const PodEntry& pod, const RemoveOptions& opts = {});
/// remove_pod() of a pod this process has locked and that no longer runs:
/// crt run --rm's own pod, once it has ended. Throws, leaving what is left
/// of it to crt gc.
void remove_locked_pod(PodDir& dir, const RemoveOptions& opts = {});

struct GcOptions {
  std::chrono::milliseconds grace_period = std::chrono::minutes(30);    ///< exited pods stay this long
  std::chrono::milliseconds expire_prepared = std::chrono::hours(24);  ///< prepared pods stay this long
  bool mark_only = false;
  MessageSink messages;  ///< warnings
  /// As RemoveOptions::network_time_limit, for every network gc tears down:
  /// one whose teardown fails stays for the next gc.
  std::chrono::milliseconds network_time_limit = net::kPluginTimeLimit;
};

/// What gc did; what it could not remove stays marked for the next run.
struct GcReport {
  std::vector<std::string> marked;
  std::vector<std::string> removed;
  std::vector<std::string> failed;  ///< "uuid: why"
  std::vector<std::string> cgroups_removed;
  std::vector<std::string> networks_torn_down;  ///< pods whose networks were torn down
  /// Pods whose networks were torn down though their directories are gone
  /// (teardown_orphaned_networks()).
  std::vector<std::string> orphaned_networks_torn_down;
  /// Leftovers of killed crt commands' work in the store (remove_abandoned_work()).
  size_t work_removed = 0;
  uint64_t work_bytes = 0;  ///< of disk they took
  /// The stop signal (pending_stop_signal()) that ended gc early: it
  /// finished the pod at hand and left the rest for the next gc; or 0.
  int stopped_by = 0;
};

/// Tears down the networks of this state directory's pods that no longer
/// run (their supervisor was killed): their addresses, forwarded ports and
/// namespaces are freed now, not after gc's grace period. Returns their
/// UUIDs; what failed goes to `failed`. The pods `passed_over` names are
/// left alone (gc tried to remove them a moment ago).
std::vector<std::string> teardown_dead_pod_networks(
    const std::filesystem::path& state_dir, std::vector<std::string>& failed, const MessageSink& messages = {},
    const std::vector<std::string>& passed_over = {},
    std::chrono::milliseconds network_time_limit = net::kPluginTimeLimit);

/// Tears down the networks whose pods' directories are gone (deleted by
/// hand), as their records tell (net/network_record.hpp): those this state
/// directory owns that it no longer has, and those of any state directory
/// that is gone as a whole. Never one without a record (an older crt's
/// pod), one whose owner cannot be read, or one whose namespace a process
/// is in or holds. A plugin's DEL that fails is a warning to `messages`,
/// as for crt rm --force (no crt rm can come for a pod that is gone), and
/// the rest goes. Never one whose record another crt holds (the pod's own
/// teardown: the two never run at once). Returns their UUIDs; what failed
/// (an iptables run, say) goes to `failed`, and the network stays for the
/// next gc. Records whose networks are torn down already (their removal
/// failed) go too, tearing nothing down again.
std::vector<std::string> teardown_orphaned_networks(
    const std::filesystem::path& state_dir, std::vector<std::string>& failed, const MessageSink& messages = {},
    std::chrono::milliseconds network_time_limit = net::kPluginTimeLimit);

/// What the watch of a pod whose crt was killed runs once the pod has
/// ended (StopOnCrtDeath): tears down the network of pod `uuid` as
/// teardown_dead_pod_networks() would, under the pod's lock it was given
/// (`pod_lock_fd`, the same open file crt held): no gc or rm has the pod
/// meanwhile. Waits (2 minutes at most) for another holder of that lock
/// (a network plugin crt ran when it died) to end; false, said to
/// `messages`, when it did not: the network is crt gc's then. A teardown
/// that fails throws, and leaves the network to crt gc; so does a plugin
/// or iptables run that takes longer than `network_time_limit` (0: no
/// limit), killed. With `remove` (the pod of a crt run --rm), the pod is
/// removed then too, as remove_locked_pod() does (a failure throws, and
/// leaves it to gc).
bool teardown_network_after_crt(const std::filesystem::path& state_dir, const std::string& uuid, int pod_lock_fd,
                                const MessageSink& messages = {},
                                std::chrono::milliseconds network_time_limit = net::kPluginTimeLimit,
                                bool remove = false);

/// crt gc: marks exited pods as garbage, expires prepared and aborted ones,
/// removes garbage older than the grace period, and removes the cgroups and
/// tears down the networks of its pods that no longer run, and those of
/// pods whose directories are gone (teardown_orphaned_networks()). Told
/// to stop (pending_stop_signal(), as under StopSignalsNoted), it stops
/// between two pods (GcReport::stopped_by).
GcReport gc(const std::filesystem::path& state_dir, const GcOptions& opts);

}  // namespace crt::runtime
