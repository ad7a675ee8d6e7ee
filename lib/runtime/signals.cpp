#include "runtime/signals.hpp"

#include <cstring>
#include <string>

namespace crt::runtime {

Interrupted::Interrupted(int sig) : Error(std::string("interrupted by SIG") + sigabbrev_np(sig)), sig_(sig) {}

SignalBlock::SignalBlock() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &saved_);
}

SignalBlock::~SignalBlock() { sigprocmask(SIG_SETMASK, &saved_, nullptr); }

void check_interrupted() {
  sigset_t pending;
  sigpending(&pending);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    if (sigismember(&pending, s)) throw Interrupted(s);
}

}  // namespace crt::runtime
