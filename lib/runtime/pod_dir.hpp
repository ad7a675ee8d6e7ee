#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/lock.hpp"
#include "pod/manifest.hpp"

namespace crt::runtime {

/// Where a pod directory lives; the state is the directory plus whether its
/// lock is held, as rkt did: no daemon keeps track of pods.
enum class PodState { kPrepare, kPrepared, kRun, kExitedGarbage, kGarbage };

/// The sub-directory of `pods/` for a state.
const char* state_dir_name(PodState s);

/// A pod's directory:
///   pod.json               the manifest
///   pid                    nspawn's PID while it runs
///   stage1/rootfs          mount point of the stage1 overlay
///   overlay/stage1/…       stage1's upper and work directories
///   overlay/apps/NAME/…    each app's upper and work directories
///   status/NAME            how each app exited (written from inside the pod)
///   stop-requested         crt stop asked the pod to stop
///   net.json               the pod's network attachments (lib/net), for status and teardown
///   nspawn.log             nspawn's messages
///   ready                  exists once the pod's systemd reached default.target
///   notify                 nspawn's readiness socket (while running)
class PodDir {
 public:
  /// Creates pods/prepare/<uuid> under `state_dir` and locks it.
  static PodDir create(const std::filesystem::path& state_dir, const std::string& uuid);

  /// Locks the existing pod directory `uuid` found in `state`'s folder; an
  /// empty optional if another process holds it, or has moved or removed it.
  static std::optional<PodDir> try_lock(const std::filesystem::path& state_dir, const std::string& uuid,
                                        PodState state);

  /// The pod directory `uuid` in `state`'s folder, locked by `lock_fd` (an
  /// open file of it whose lock this process inherited: the pod's watch
  /// after crt's death); its lock is taken on a copy of that fd. Throws if
  /// `lock_fd` is not that directory or holds no lock on it.
  static PodDir adopt(const std::filesystem::path& state_dir, const std::string& uuid, PodState state, int lock_fd);

  /// Renames the directory into another state's folder; the lock stays held.
  void move_to(PodState state);
  /// Removes the directory (after the pod's mounts are gone).
  void remove();

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] FileLock& lock() { return lock_; }
  [[nodiscard]] const std::string& uuid() const { return uuid_; }
  /// The state's folder the directory is in.
  [[nodiscard]] PodState state() const { return state_; }

  void write_manifest(const pod::PodManifest& m) const;

  [[nodiscard]] std::filesystem::path stage1_rootfs() const { return path_ / "stage1" / "rootfs"; }
  [[nodiscard]] std::filesystem::path stage1_upper() const { return path_ / "overlay" / "stage1" / "upper"; }
  [[nodiscard]] std::filesystem::path stage1_work() const { return path_ / "overlay" / "stage1" / "work"; }
  [[nodiscard]] std::filesystem::path app_upper(const std::string& app) const {
    return path_ / "overlay" / "apps" / app / "upper";
  }
  [[nodiscard]] std::filesystem::path app_work(const std::string& app) const {
    return path_ / "overlay" / "apps" / app / "work";
  }
  [[nodiscard]] std::filesystem::path status_dir() const { return path_ / "status"; }
  /// The files prepare-app gives each app (resolv.conf, hosts, hostname): a
  /// tmpfs at mount::kPodEtc in stage1, seen only while the pod is mounted.
  [[nodiscard]] std::filesystem::path etc_dir() const { return stage1_rootfs() / "crt" / "etc"; }
  [[nodiscard]] std::filesystem::path pid_file() const { return path_ / "pid"; }
  /// A CgroupRecord (write_cgroup_record()).
  [[nodiscard]] std::filesystem::path cgroup_file() const { return path_ / kCgroupFile; }
  static constexpr const char* kCgroupFile = "cgroup";
  [[nodiscard]] std::filesystem::path nspawn_log() const { return path_ / "nspawn.log"; }
  /// Written when the pod's systemd has reached its default target.
  [[nodiscard]] std::filesystem::path ready_file() const { return path_ / "ready"; }
  /// Made by crt stop before it signals the pod: crt run reports a pod that
  /// ended before its apps ran as stopped, not failed. Byte 0 is 's' once
  /// nspawn has had its SIGTERM; byte 1 'k' once the pod was killed.
  [[nodiscard]] std::filesystem::path stop_requested_file() const { return path_ / kStopRequestedFile; }
  static constexpr const char* kStopRequestedFile = "stop-requested";
  /// Its byte that is 's' once nspawn has had the stop's SIGTERM (a second
  /// one would kill the pod at once); written just before it is sent.
  static constexpr off_t kStopSentAt = 0;
  /// Where it holds when that SIGTERM was sent: CLOCK_MONOTONIC, in
  /// nanoseconds, as an int64_t of the host's byte order.
  static constexpr off_t kStopSentTimeAt = 8;
  /// How many starts of the prepared pod failed (it went back to prepared
  /// after each), in decimal: a wait for its start ends when it grows.
  [[nodiscard]] std::filesystem::path start_failed_file() const { return path_ / "start-failed"; }
  /// Written by crt run at the pod's end when the kernel's OOM killer
  /// killed processes of its apps: {"APP": count, …}.
  [[nodiscard]] std::filesystem::path oom_kills_file() const { return path_ / kOomKillsFile; }
  static constexpr const char* kOomKillsFile = "oom-kills.json";
  /// The socket nspawn says READY=1 on: in the pod's directory, or, where
  /// that path is too long for a socket (a long --dir), in fs::kRunDir.
  [[nodiscard]] std::filesystem::path notify_socket() const;
  [[nodiscard]] std::filesystem::path manifest_file() const { return path_ / "pod.json"; }
  /// The pod's persistent journal, as written into stage1's upper layer.
  [[nodiscard]] std::filesystem::path journal_dir() const;

 private:
  PodDir(std::filesystem::path pods_root, std::filesystem::path path, std::string uuid, PodState state, FileLock lock)
      : pods_root_(std::move(pods_root)),
        path_(std::move(path)),
        uuid_(std::move(uuid)),
        state_(state),
        lock_(std::move(lock)) {}

  std::filesystem::path pods_root_;
  std::filesystem::path path_;
  std::string uuid_;
  PodState state_;
  FileLock lock_;
};

/// The machine id of a pod: its UUID without dashes (systemd derives it from
/// the container UUID nspawn passes).
std::string machine_id_of(const std::string& uuid);

/// Points nspawn's link /var/log/journal/MACHINE-ID, made for the journal in
/// stage1's rootfs (mounted in crt's mount namespace alone: from the host
/// the link dangled), at the same journal in stage1's upper directory
/// (PodDir::journal_dir()), which the host sees: `journalctl -m` then reads
/// the pod's journal. A link to anything else is left alone. Best effort.
void point_journal_link_at_upper(const PodDir& pod);

/// Removes nspawn's link /var/log/journal/MACHINE-ID to the journal of the
/// pod `uuid` at `pod_path`. nspawn makes it while the pod is in run/; the
/// pod may have moved to another state since, so any link to this pod
/// under the same pods/ directory is taken. Best effort.
void remove_journal_link(const std::filesystem::path& pod_path, const std::string& uuid);

/// What a pod's cgroup file (PodDir::cgroup_file) keeps: where the pod's
/// cgroup is (cgroup::PodCgroup::relative()), for crt enter and inspect;
/// and the identity of the one crt made (cgroup::PodCgroup::identity(),
/// empty where the host's systemd made it), so that cleaning up after it
/// never touches a later pod's of the same name.
struct CgroupRecord {
  std::string relative;
  std::string identity;
  /// The identity of a cgroup crt is about to make (of a pod named by its
  /// UUID): the record is written before its directories are, so that a crt
  /// killed in between leaves them to be cleaned up after (where they are
  /// empty), not for good.
  static constexpr const char* kBeingMade = "being made\n";
};
void write_cgroup_record(const std::filesystem::path& pod_path, const CgroupRecord& r);
/// None for a pod that never started (or of a crt before the record).
std::optional<CgroupRecord> read_cgroup_record(const std::filesystem::path& pod_path);

/// A new random UUID.
std::string new_uuid();

}  // namespace crt::runtime
