#pragma once

#include <signal.h>

#include "common/error.hpp"

namespace crt::runtime {

/// A signal stopped crt before the pod started; nothing was left behind.
class Interrupted : public Error {
 public:
  explicit Interrupted(int sig);
  [[nodiscard]] int signal() const { return sig_; }

 private:
  int sig_;
};

/// Blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGWINCH for its lifetime:
/// before a pod starts they stay pending and are noticed at checkpoints;
/// then the supervisor's event loop takes them.
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
};

/// Throws Interrupted if SIGINT, SIGTERM or SIGHUP is pending.
void check_interrupted();

}  // namespace crt::runtime
