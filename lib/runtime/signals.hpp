#pragma once

#include <signal.h>

#include "common/error.hpp"
#include "common/stop_signal.hpp"

namespace crt::runtime {

/// A signal stopped crt (before the pod started, nothing was left behind;
/// or it stopped the pod, whose apps ended by their stop). crt, having
/// said why unless `announce` is false, ends by that signal (die_of).
class Interrupted : public Error {
 public:
  explicit Interrupted(int sig, bool announce = true);
  [[nodiscard]] int signal() const { return sig_; }
  [[nodiscard]] bool announce() const { return announce_; }

 private:
  int sig_;
  bool announce_;
};

/// Ends the process by `sig` at its default action, as a program that
/// cleaned up after SIGINT or SIGTERM should: a shell then stops a loop or
/// script that ran it, and systemd counts a stop by SIGTERM as clean (an
/// exit status of 143 is the app's own end, a failure). If `sig` does not
/// end the process, exits with 128 + `sig`.
[[noreturn]] void die_of(int sig);

/// Blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGWINCH for its lifetime:
/// before a pod starts they stay pending and are noticed at checkpoints;
/// then the supervisor's event loop takes them. Left by an exception, it
/// keeps a pending SIGINT, SIGTERM or SIGHUP blocked, for main to end crt by
/// once it has said why (die_of()).
class SignalBlock {
 public:
  SignalBlock();
  ~SignalBlock();
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  /// The mask to restore in children.
  [[nodiscard]] const sigset_t& saved() const { return saved_; }

 private:
  sigset_t saved_{};
  int exceptions_;
};

/// Throws Interrupted if SIGINT, SIGTERM or SIGHUP is pending.
void check_interrupted();

}  // namespace crt::runtime
