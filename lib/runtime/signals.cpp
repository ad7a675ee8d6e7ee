#include "runtime/signals.hpp"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>

namespace crt::runtime {

Interrupted::Interrupted(int sig, bool announce)
    : Error(std::string("interrupted by SIG") + sigabbrev_np(sig)), sig_(sig), announce_(announce) {}

void die_of(int sig) {
  std::signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);
}

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
