#include "common/stop_signal.hpp"

#include <csignal>
#include <initializer_list>
#include <iterator>

namespace crt {

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

volatile sig_atomic_t noted_stop = 0;

void note_stop(int sig) {
  if (noted_stop == 0) {
    noted_stop = sig;
    return;
  }
  // The second: crt ends by it once this handler returns (it is blocked
  // until then).
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

int pending_stop_signal() {
  if (noted_stop != 0) return noted_stop;
  sigset_t pending;
  sigpending(&pending);
  for (int s : kStopSignals)
    if (sigismember(&pending, s)) return s;
  return 0;
}

StopSignalsNoted::StopSignalsNoted() {
  struct sigaction sa {};
  sa.sa_handler = note_stop;
  sigemptyset(&sa.sa_mask);
  for (int s : kStopSignals) sigaddset(&sa.sa_mask, s);
  // System calls go on as they were (a removal's unlink, a wait for a
  // plugin): the note is looked at between pods.
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &sa, &saved_[i]);
}

StopSignalsNoted::~StopSignalsNoted() {
  for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &saved_[i], nullptr);
  noted_stop = 0;
}

}  // namespace crt
