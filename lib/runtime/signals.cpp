#include "runtime/signals.hpp"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>
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

SignalBlock::SignalBlock() : exceptions_(std::uncaught_exceptions()) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &saved_);
}

SignalBlock::~SignalBlock() {
  sigset_t restore = saved_;
  // Left by an error (Interrupted, or one the stop caused): the stop signal
  // stays blocked until main has said why crt ends, and ends it by that
  // signal. Unblocked here, it would kill crt before a word is said.
  if (std::uncaught_exceptions() > exceptions_)
    if (int sig = pending_stop_signal(); sig != 0) sigaddset(&restore, sig);
  sigprocmask(SIG_SETMASK, &restore, nullptr);
}

void check_interrupted() {
  if (int sig = pending_stop_signal(); sig != 0) throw Interrupted(sig);
}

}  // namespace crt::runtime
