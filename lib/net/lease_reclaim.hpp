#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lock.hpp"
#include "common/message.hpp"
#include "net/config.hpp"

namespace crt::net {

/// A pod of crt's state directory, and its lock for as long as it is held:
/// what crt holds while it starts, runs, removes or cleans up after a pod.
struct LockedPod {
  FileLock lock;  ///< empty (valid() false) when another process holds it
  std::filesystem::path dir;  ///< the pod's directory, where its lock was taken
};

/// The pod that CNI container ID `id` ("crt-<uuid>") names, locked. Nothing
/// when crt knows no such pod (one of another state directory, or gone: its
/// namespace alone tells).
using PodLocker = std::function<std::optional<LockedPod>(const std::string& id)>;

/// What reclaim_dead_leases() did.
struct Reclaimed {
  int released = 0;
  std::vector<std::string> failures;  ///< one line each, for a lease that stays
};

/// Releases the host-local IPAM leases of `net` that belong to crt pods that
/// are gone, so that the leases of pods nobody cleaned up (crt killed and no
/// crt gc, a reboot) never exhaust the subnet. A lease is crt's when its
/// container id is "crt-<uuid>"; its pod is gone when its network namespace
/// /run/netns/crt-<uuid> is no longer mounted, or no process is in it or
/// holds it open (one scan of /proc for all leases). A pod `lock_pod` finds
/// is gone only while its lock is free, and it is held until its lease and
/// rules are released: a pod started again (a prepared one, under the same
/// ID) could otherwise make a new lease and rules between the scan and their
/// release, and lose them. Likewise a lease whose network's record
/// (network_record.hpp) another process holds is left to it (crt gc tearing
/// the network down as an orphan's, the pod's own teardown come late): its
/// teardown releases it, and removes the record; a free record is held
/// until the release, and the lease read again once it is, for such a
/// teardown may have ended meanwhile. Each is released with a CNI DEL of
/// `net`; one whose DEL fails stays, and says why. Then, as a teardown
/// would, the pod's net.json (where `lock_pod` finds it) no longer asks for
/// that DEL, and once none is left it says the network is torn down and the
/// namespace goes, and its network's record (a failure to remove it is a
/// warning to `messages`: it is another pod's, and this start no place to
/// fail for it). The namespace of a pod crt knows nothing of goes at once.
/// Each plugin and iptables run may take `time_limit` (0: no limit): one
/// that takes longer is killed, and its lease stays.
Reclaimed reclaim_dead_leases(const NetworkConfig& net, const std::vector<std::filesystem::path>& plugin_dirs,
                              const PodLocker& lock_pod = {},
                              std::chrono::milliseconds time_limit = std::chrono::milliseconds(0),
                              const MessageSink& messages = {});

/// Whether an ADD failed as host-local does when leases hold the address it
/// needs: none left in the range, or the one asked for (CNI_ARGS IP=) taken.
/// Only then can releasing leases of pods that are gone help.
bool failed_for_want_of_an_address(std::string_view add_error);

/// The directory host-local keeps the leases of `net` in, if its IPAM is
/// host-local.
std::optional<std::filesystem::path> host_local_lease_dir(const NetworkConfig& net);

}  // namespace crt::net
