#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "common/fd.hpp"
#include "sandbox/pod_filter.hpp"

namespace crt::runtime {

/// How to start nspawn.
struct Spawn {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  cgroup::CgroupEntry cgroup;               ///< the child starts in this cgroup (empty: the caller's)
  UniqueFd stdin_fd, stdout_fd, stderr_fd;  ///< invalid: inherit
  /// These survive exec, and live as long as nspawn does (the pod
  /// directory's lock, sockets the pod's units connect to).
  std::vector<int> keep_fds;
  /// When valid, the child waits for one byte on it before it executes the
  /// command, and gives up if the other end is closed without one: the parent
  /// may place the child (e.g. into a scope) first.
  UniqueFd start_gate;
  int start_gate_peer = -1;  ///< the parent's end of the gate: closed in the child
  bool own_process_group = false;
  /// Sent to the child when the thread of crt's that started it exits (0:
  /// none). It comes again each time the child passes to another of crt's
  /// threads as they exit: see StopOnCrtDeath.
  int parent_death_signal = SIGTERM;
  sigset_t mask{};
  /// Loaded in the child just before it executes the command; if that
  /// fails, the child says so on its stderr and exits with 126.
  std::optional<sandbox::PodFilter> seccomp;
};

/// Forks and executes the command; when crt dies the child gets
/// Spawn::parent_death_signal. The child only makes async-signal-safe
/// calls.
pid_t spawn(Spawn& s);

/// A pidfd of `pid`; not valid when it is gone (or the kernel has no
/// pidfds). Signals sent through it cannot reach another process that takes
/// the PID later.
UniqueFd open_pidfd(pid_t pid);

/// Sends `sig` (0: only checks that it lives) through a pidfd; false when
/// the process is gone or the fd is not valid.
bool send_signal(const UniqueFd& process, int sig);

/// nspawn stops the pod the orderly way on a first SIGTERM, and kills it
/// on a second. A parent-death signal on nspawn would come once for each
/// of crt's threads as they exit (the kernel hands nspawn to the next
/// thread, and signals it each time): crt killed could have its pod killed
/// too. Instead a single-threaded child of crt's waits for crt's death
/// (its own parent-death signal, however often it comes) and sends nspawn
/// one SIGTERM, through a pidfd. Destroyed, it ends without a signal.
/// Where the pod's stop was under way already (`stop_requested` notes that
/// nspawn had its SIGTERM), a second would kill the pod at once, its apps'
/// ends unrecorded: the stop gets `stop_timeout` to end the pod first, as
/// crt would have given it.
///
/// The apps' output connections crt reads (StdioRelay) are handed to the
/// watch too (keep_output()): with crt dead, an app that writes during its
/// stop would die of SIGPIPE, its stop cut short. The watch goes on with
/// them, into the pod's journal, until nspawn has ended.
class StopOnCrtDeath {
 public:
  /// Whether the kernel has pidfds (Linux 5.3): else nspawn's own
  /// parent-death signal is all there is.
  static bool supported();
  /// `nspawn`: crt's child, not reaped yet.
  /// `flush_listener`: where app-exited asks for an app's output to be in
  /// the journal (StdioSockets::flush), which the watch answers once crt
  /// is dead; or -1.
  StopOnCrtDeath(pid_t nspawn, const std::filesystem::path& stop_requested, std::chrono::milliseconds stop_timeout,
                 int flush_listener);
  ~StopOnCrtDeath();
  StopOnCrtDeath(const StopOnCrtDeath&) = delete;
  StopOnCrtDeath& operator=(const StopOnCrtDeath&) = delete;

  /// nspawn has been reaped: the watch has nothing left to stop. It is
  /// told to end now, and the destructor reaps it, by when it has ended
  /// while crt cleaned up.
  void cancel() noexcept;

  /// `conn`, crt's end of a connection of `app`'s stdout or stderr, is
  /// kept by the watch (a copy: crt reads it while it lives); its output
  /// goes to the pod's journal as written by the app's `uid` and `gid`.
  /// Best effort: a watch that has too many is not given more.
  void keep_output(int conn, const std::string& app, uid_t uid, gid_t gid) noexcept;
  /// The pod's init, whose journald gets the output of kept connections.
  void set_pod_leader(pid_t leader) noexcept;

 private:
  pid_t pid_ = -1;
  UniqueFd handover_;  ///< crt's end of the socket to the watch
};

/// The current environment with `drop` variables removed and `add` added.
std::vector<std::string> environment_with(const std::vector<std::string>& drop, const std::vector<std::string>& add);

}  // namespace crt::runtime
