#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "net/lease_reclaim.hpp"
#include "net/state.hpp"
#include "pod/exit_status.hpp"
#include "pod/manifest.hpp"
#include "runtime/pod_dir.hpp"
#include "store/store.hpp"

namespace crt::runtime {

/// A pod's state as users see it (rkt's states).
enum class PodStatus {
  kPreparing,       ///< prepare/, locked
  kAbortedPrepare,  ///< prepare/, nobody holds it: crt died while preparing
  kPrepared,        ///< prepared/
  kRunning,         ///< run/, locked by the running pod
  kExited,          ///< run/, no longer locked
  kExitedGarbage,   ///< exited-garbage/: marked by gc
  kGarbage,         ///< garbage/: never ran, marked by gc
  kDeleting,        ///< in a garbage folder and locked: being removed
};

/// "running", "exited garbage" …
const char* status_name(PodStatus s);

/// A pod directory found on disk.
struct PodEntry {
  std::string uuid;
  PodState dir_state;  ///< the folder it is in
  std::filesystem::path path;
  bool locked = false;
  [[nodiscard]] PodStatus status() const;
};

/// Every pod directory under `state_dir`/pods.
std::vector<PodEntry> list_pods(const std::filesystem::path& state_dir);

/// The pod of `state_dir` that CNI container ID `id` ("crt-<uuid>") names,
/// locked, as net::PodLocker asks for it: nothing when there is no such
/// pod; an empty lock when another process holds it.
std::optional<net::LockedPod> lock_pod_of_network(const std::filesystem::path& state_dir, const std::string& id);

/// find_pod()'s error where no pod is named `ref`: "no pod 'REF'".
class NoSuchPod : public Error {
 public:
  explicit NoSuchPod(const std::string& ref) : Error("no pod " + quote(ref)), ref_(ref) {}
  [[nodiscard]] const std::string& ref() const { return ref_; }

 private:
  std::string ref_;
};

/// The pod `ref` designates: a full UUID, a pod name (the pod that holds
/// it, or else the latest that had it) or a unique UUID prefix. Throws
/// NoSuchPod when there is none, a crt::Error saying why when there are
/// several.
PodEntry find_pod(const std::filesystem::path& state_dir, const std::string& ref);

/// What `crt status` and `crt list` show of a pod, read from its directory.
struct PodInfo {
  PodEntry entry;
  std::optional<pod::PodManifest> manifest;  ///< absent while the first write is pending
  std::string manifest_error;                ///< why a manifest that is there could not be read
  std::string started;                       ///< RFC 3339 with ms, empty if it never started
  std::optional<pid_t> pid;                  ///< nspawn's PID while running
  /// The pod's systemd reached its default target (of a pod that has
  /// exited: before it exited, as crt status --wait-ready counts it).
  bool ready = false;
  std::vector<pod::AppExit> exits;           ///< apps that have exited, in order
  std::map<std::string, uint64_t> restarts;  ///< running apps with a restart policy: restarts so far
  /// Processes of each app the kernel's OOM killer killed (apps with none
  /// left out), as recorded at the pod's end.
  std::map<std::string, uint64_t> oom_kills;
  std::vector<net::NetworkSummary> networks;  ///< the pod's own networks and addresses, once attached
  std::vector<net::PublishedPort> ports;      ///< the host ports they forward
};

PodInfo pod_info(const PodEntry& e);

/// The manifest of the pod at `pod_path`, if it has a readable one; no
/// more than that is read (pod_info() also asks a running pod's systemd).
std::optional<pod::PodManifest> read_manifest(const std::filesystem::path& pod_path);
/// The same; `error` gets why a manifest that is there could not be read
/// (not a missing one: pending, or the pod moved or went meanwhile).
std::optional<pod::PodManifest> read_manifest(const std::filesystem::path& pod_path, std::string& error);

/// Whether the pod runs and its systemd reached its default target (its
/// directory's ready file): PodInfo::ready, without the rest.
bool pod_ready(const PodEntry& e);

/// Whether `name` is a pod's UUID as crt writes them (lowercase, with '-'),
/// as a pod directory is named: anything else there is not crt's (no
/// command lists it or removes it).
bool is_pod_uuid(std::string_view name);

/// Whether `pid` is the nspawn of pod `uuid` (PIDs are reused).
bool is_pods_nspawn(pid_t pid, const std::string& uuid);

/// The PID of the pod's nspawn, while it runs: a locked pod directory may
/// be another crt's for a while (crt gc tearing down its network, crt rm
/// moving it) or its crt run's before nspawn starts or after it ended.
std::optional<pid_t> running_nspawn(const PodEntry& e);

/// Whether the pod has exited after it was ready.
bool pod_was_ready(const PodEntry& e);

/// How many starts of the pod at `pod_path` failed before its apps ran
/// (crt run-prepared's, which put it back in prepared/).
uint64_t failed_starts(const std::filesystem::path& pod_path);

/// How each app has exited so far (the pod's status/ directory).
std::vector<pod::AppExit> read_app_exits(const std::filesystem::path& pod_path);

/// Whether a pod in this state keeps the images it uses: one being prepared,
/// prepared, running, or exited (also once gc marked it) until it is
/// removed, as its rootfs is still there to look at or to run; not one that
/// never ran and is garbage, nor one being deleted.
bool pins_images(PodStatus s);

/// A pod that pins its images (pins_images) whose manifest cannot be read
/// (damaged, or of another crt): it may use any image.
struct UnreadablePod {
  PodEntry pod;
  std::string error;  ///< why, naming the file
  /// "cannot tell which images pod U (exited) uses: ERROR", then what to do.
  [[nodiscard]] std::string message() const;
};

/// What pods_using_image() throws for a pod whose manifest cannot be read.
class UnreadablePodError : public Error {
 public:
  using Error::Error;
};

/// The pods that pin their images (pins_images) whose manifest uses image
/// `id` (as an app or as stage1). Throws UnreadablePodError, with
/// UnreadablePod::message(), when one of them has a manifest that cannot be
/// read: it may use the image.
std::vector<PodEntry> pods_using_image(const std::filesystem::path& state_dir, const std::string& id);

/// What the pods that pin their images use of the store.
struct PodPins {
  std::set<std::string> layers;  ///< diff_ids of every image they use
  /// Those whose manifest cannot be read: they may use any layer.
  std::vector<UnreadablePod> unreadable;
};

/// The layers of every image a pod that pins its images uses: what rm
/// --force and gc must leave; every layer while `unreadable` is not empty.
PodPins layers_in_use(const std::filesystem::path& state_dir);

/// layers_in_use() as the store asks for it when it takes out what a failed
/// import or pull added: every layer while a pod's manifest cannot be read.
store::PinnedLayers pinned_layers(const std::filesystem::path& state_dir);

}  // namespace crt::runtime
