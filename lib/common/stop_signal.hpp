#pragma once

#include <csignal>

namespace crt {

/// The SIGINT, SIGTERM or SIGHUP pending for crt (blocked until what it does
/// now is done: a ^C, a stop by systemd), or noted by StopSignalsNoted; 0
/// when none. The one place crt asks whether it was told to stop.
int pending_stop_signal();

/// For a command that works through pods one by one (crt gc, crt rm of
/// several): while it lives, the first SIGINT, SIGTERM or SIGHUP does not
/// end crt but is noted (pending_stop_signal() gives it), so that the pod
/// at hand is finished, not left half removed, and the command stops after
/// it; a second one ends crt at once, by its signal, as without it. The
/// handlers crt had before come back after, and the note goes.
class StopSignalsNoted {
 public:
  StopSignalsNoted();
  ~StopSignalsNoted();
  StopSignalsNoted(const StopSignalsNoted&) = delete;
  StopSignalsNoted& operator=(const StopSignalsNoted&) = delete;

 private:
  struct sigaction saved_[3] = {};
};

}  // namespace crt
