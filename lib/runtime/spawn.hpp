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

/// The current environment with `drop` variables removed and `add` added.
std::vector<std::string> environment_with(const std::vector<std::string>& drop, const std::vector<std::string>& add);

}  // namespace crt::runtime
