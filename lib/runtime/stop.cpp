#include "runtime/stop.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <ctime>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "pod/units.hpp"
#include "runtime/app_process.hpp"
#include "runtime/machines.hpp"
#include "runtime/pod_dir.hpp"
#include "runtime/pod_systemctl.hpp"
#include "runtime/spawn.hpp"
#include "unit/render.hpp"
#include "unit/unit_file.hpp"

namespace crt::runtime {

namespace {

/// Bytes of the stop-requested file.
constexpr off_t kSentAt = PodDir::kStopSentAt;  ///< 's': nspawn has had its SIGTERM
constexpr off_t kKilledAt = 1;  ///< 'k': the pod was killed

pid_t read_pid(const std::filesystem::path& pod) {
  std::string s;
  try {
    s = fs::read_file(pod / "pid");
  } catch (const Error&) {
    return -1;
  }
  pid_t pid = -1;
  std::from_chars(s.data(), s.data() + s.size(), pid);
  return pid;
}

/// Gives the pod's apps up to app_stop_timeout(`timeout`) to stop, where
/// their units (written as the pod started, after its --stop-timeout) give
/// them less: a runtime drop-in each, which its systemd reads on a reload.
/// A stop of a pod that would not let its apps use the time asked for
/// would kill them early. Best effort: an app that keeps its shorter
/// timeout is still stopped, only sooner.
void give_apps_stop_time(const pod::PodManifest& m, pid_t nspawn, std::chrono::milliseconds timeout) {
  std::chrono::milliseconds wanted = pod::app_stop_timeout(timeout);
  // What the units were written with at the pod's start.
  if (pod::app_stop_timeout(m.stop_timeout.value_or(pod::kDefaultStopTimeout)) >= wanted) return;
  std::optional<pid_t> leader = pod_leader(nspawn);
  if (!leader) return;
  std::filesystem::path control = "/proc/" + std::to_string(*leader) + "/root/run/systemd/system.control";
  unit::UnitFile dropin;
  dropin.comments.emplace_back("Written by crt stop --timeout.");
  dropin.section("Service").set("TimeoutStopSec", pod::systemd_duration(wanted));
  const std::string text = unit::render(dropin);
  bool changed = false;
  for (const auto& app : m.apps) {
    try {
      std::filesystem::path dir = control / (app.name + ".service.d");
      fs::make_dirs(dir);
      fs::write_file_atomic(dir / "50-crt-stop-timeout.conf", text, 0644, fs::Durability::kCached);
      changed = true;
    } catch (const Error&) {
      // Its unit as written: its own timeout stands.
    }
  }
  if (changed) {
    try {
      pod_systemctl(*leader, {"daemon-reload"});
    } catch (const Error&) {
    }
  }
}

/// True once nobody holds the pod directory's lock.
bool has_exited(const std::filesystem::path& pod) {
  int fd = ::open(pod.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return true;
  return FileLock::try_acquire(UniqueFd(fd), FileLock::Mode::kShared).valid();
}

bool wait_exited(const std::filesystem::path& pod, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!has_exited(pod)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// Waits until the pod's nspawn runs (a pod still starting, mounting or
/// setting up its network, has none yet; nor has one whose nspawn has not
/// executed yet) or the pod has exited. Its PID, or -1 once it has exited
/// or after `timeout`.
pid_t wait_nspawn(const PodEntry& pod, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pid_t pid = read_pid(pod.path); pid > 0 && is_pods_nspawn(pid, pod.uuid)) return pid;
    if (has_exited(pod.path) || std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// A pidfd of the pod's init, the child of nspawn `pid` (whose pidfd is
/// `nspawn`); not valid before there is one.
UniqueFd pod_leader_pidfd(pid_t pid, const UniqueFd& nspawn) {
  std::optional<pid_t> leader = pod_leader(pid);
  if (!leader) return {};
  UniqueFd fd = open_pidfd(*leader);
  // Still nspawn's child, and nspawn still the one we checked: the pidfd
  // names the pod's init.
  if (!fd.valid() || proc_status(*leader)["PPid"] != std::to_string(pid) || !send_signal(nspawn, 0)) return {};
  return fd;
}

/// Whether the pod of nspawn `nspawn` takes an orderly stop.
bool takes_orderly_stop_now(pid_t nspawn) {
  std::optional<pid_t> leader = pod_leader(nspawn);
  return leader && takes_orderly_stop(*leader);
}

/// Waits until the pod of nspawn `nspawn` takes an orderly stop, it has
/// exited, or `deadline`. A pod this early in its boot has no handler for
/// the stop yet: its systemd would drop the signal (nspawn's SIGTERM, or
/// machined's poweroff), and the pod would be killed after the timeout.
void wait_orderly_stop(const PodEntry& pod, pid_t nspawn, std::chrono::steady_clock::time_point deadline) {
  while (!takes_orderly_stop_now(nspawn) && std::chrono::steady_clock::now() < deadline && !has_exited(pod.path))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

/// This crt stop's part in the pod's stop-requested file (see
/// PodDir::stop_requested_file, which also tells the pod's crt run that its
/// pod was stopped on request). nspawn takes a first SIGTERM as an orderly
/// stop and a second as a kill, so only one crt stop sends it: the one that
/// holds the file's lock, which notes in the file that it was sent.
class StopClaim {
 public:
  explicit StopClaim(const std::filesystem::path& pod)
      : fd_(::open((pod / PodDir::kStopRequestedFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    holder_ = fd_.valid() && ::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0;
    if (holder_) {
      char c = 0;
      sent_ = ::pread(fd_.get(), &c, 1, kSentAt) == 1 && c == 's';
    }
  }
  /// No other crt stop is stopping the pod now.
  [[nodiscard]] bool holder() const { return holder_; }
  /// The file could not be made (the pod's directory is gone): nobody
  /// can claim the stop.
  [[nodiscard]] bool unclaimable() const { return !fd_.valid(); }
  /// An earlier crt stop sent the SIGTERM (and has gone).
  [[nodiscard]] bool sent() const { return sent_; }
  /// Before the SIGTERM: a crt stop or crt run killed right after sending
  /// it must not leave it unnoted (pod-watch would send a second one). A
  /// note of a SIGTERM never sent only delays the stop of a crt run killed
  /// in between by the stop's timeout.
  void note_sending() {
    if (!holder_) return;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
    (void)::pwrite(fd_.get(), &ns, sizeof ns, PodDir::kStopSentTimeAt);
    (void)::pwrite(fd_.get(), "s", 1, kSentAt);
  }
  /// The SIGTERM could not be sent (nspawn has ended).
  void unnote_sending() {
    if (holder_) (void)::pwrite(fd_.get(), "\0", 1, kSentAt);
  }

 private:
  UniqueFd fd_;
  bool holder_ = false;
  bool sent_ = false;
};

void write_stop_mark(const std::filesystem::path& pod, off_t at, char c) {
  UniqueFd fd(::open((pod / PodDir::kStopRequestedFile).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (fd) (void)::pwrite(fd.get(), &c, 1, at);
}

}  // namespace

void note_pod_killed(const std::filesystem::path& pod_dir) { write_stop_mark(pod_dir, kKilledAt, 'k'); }

namespace {

bool marked(const std::filesystem::path& pod_dir, off_t at, char c) {
  UniqueFd fd(::open((pod_dir / PodDir::kStopRequestedFile).c_str(), O_RDONLY | O_CLOEXEC));
  char got = 0;
  return fd && ::pread(fd.get(), &got, 1, at) == 1 && got == c;
}

}  // namespace

bool pod_was_killed(const std::filesystem::path& pod_dir) { return marked(pod_dir, kKilledAt, 'k'); }

bool send_stop_once(const std::filesystem::path& pod_dir, const std::function<bool()>& send) {
  StopClaim claim(pod_dir);
  if (claim.unclaimable()) return send();
  if (!claim.holder() || claim.sent()) return false;
  claim.note_sending();
  if (send()) return true;
  claim.unnote_sending();
  return false;
}

void stop_pod(const PodEntry& pod, bool force, std::optional<std::chrono::milliseconds> timeout_given) {
  with_context("stopping pod " + pod.uuid, [&] {
    switch (pod.status()) {
      case PodStatus::kRunning:
        break;
      // Already stopped: what the caller asked for (as systemctl stop of an
      // inactive unit), so a script's stop need not race the pod's own end.
      case PodStatus::kExited:
      case PodStatus::kExitedGarbage:
      case PodStatus::kGarbage:
      case PodStatus::kDeleting:
        return;
      default:
        throw Error("it is " + std::string(status_name(pod.status())) + ", not running");
    }
    // Also before the claim below: crt run removes an earlier start's
    // stop-requested file before it starts nspawn. (Not part of the stop's
    // timeout: the pod's stop has not begun.)
    constexpr auto kStartWait = std::chrono::seconds(60);
    pid_t started = wait_nspawn(pod, kStartWait);
    if (started < 0) {
      if (has_exited(pod.path)) return;
      throw Error("it is still starting: no systemd-nspawn after " + std::to_string(kStartWait.count()) +
                  " s (its crt run may be waiting for something; 'crt --debug run' shows what)");
    }
    std::optional<pod::PodManifest> manifest = read_manifest(pod.path);
    std::chrono::milliseconds timeout = timeout_given.value_or(
        manifest ? manifest->stop_timeout.value_or(pod::kDefaultStopTimeout) : pod::kDefaultStopTimeout);
    // Waiting for a pod early in its boot to take the stop is part of the
    // timeout.
    auto deadline = std::chrono::steady_clock::now() + (force ? std::chrono::milliseconds(10000) : timeout);
    auto left = [&] {
      return std::max(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
          std::chrono::milliseconds(0));
    };
    if (!force) wait_orderly_stop(pod, started, deadline);
    // On a systemd host the pod is a machine: machined stops it the way
    // machinectl does, whoever started it (a terminal, crt@.service, …).
    StopClaim claim(pod.path);
    if (force) note_pod_killed(pod.path);
    if (!force && manifest && claim.holder() && !claim.sent())
      give_apps_stop_time(*manifest, read_pid(pod.path), left());
    if (manifest && stop_pod_machine(manifest->machine_name(), started, force)) {
      if (wait_exited(pod.path, left())) return;
      note_pod_killed(pod.path);
      stop_pod_machine(manifest->machine_name(), started, true);
      if (!wait_exited(pod.path, std::chrono::seconds(10))) throw Error("it did not exit after being terminated");
      return;
    }
    pid_t pid = read_pid(pod.path);
    // Taken before the check, so that every signal goes to the nspawn checked.
    UniqueFd nspawn = open_pidfd(pid);
    if (!nspawn.valid() || !is_pods_nspawn(pid, pod.uuid)) {
      if (wait_exited(pod.path, std::chrono::seconds(2))) return;
      throw Error("it is locked but its systemd-nspawn is not running");
    }
    // What nspawn does on a second SIGTERM: SIGKILL to the pod's init (or,
    // before there is one, nspawn).
    auto kill_now = [&] {
      note_pod_killed(pod.path);
      UniqueFd leader = pod_leader_pidfd(pid, nspawn);
      return send_signal(leader.valid() ? leader : nspawn, SIGKILL);
    };
    // nspawn powers the pod off on the first SIGTERM and kills it on the
    // second. Another crt stop is stopping the pod (or one that has gone
    // sent the SIGTERM): this one waits for that stop as long as it would
    // for its own, then kills the pod, as its own stop would.
    if (!force && (!claim.holder() || claim.sent())) {
      if (wait_exited(pod.path, left())) return;
      kill_now();
      if (!wait_exited(pod.path, std::chrono::seconds(10))) throw Error("it did not exit after being killed");
      return;
    }
    bool sent = false;
    if (force) {
      // Now, not after the apps' stop. Sending nspawn two SIGTERMs would not
      // do: two in a row may reach it as one, which is an orderly stop.
      sent = kill_now();
    } else {
      claim.note_sending();
      sent = send_signal(nspawn, SIGTERM);
      if (!sent) claim.unnote_sending();
    }
    if (!sent) {  // it ended meanwhile
      if (wait_exited(pod.path, std::chrono::seconds(2))) return;
      throw Error("it is locked but its systemd-nspawn is not running");
    }
    if (wait_exited(pod.path, left())) return;
    // What nspawn's second SIGTERM would do, not that signal: right after
    // the first (a timeout of 0 or a few ms), the two may reach nspawn as
    // one, which only stops the pod in order.
    kill_now();
    if (!wait_exited(pod.path, std::chrono::seconds(10))) throw Error("it did not exit after being killed");
  });
}

}  // namespace crt::runtime
