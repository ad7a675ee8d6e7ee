#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "common/subprocess.hpp"

namespace crt {
namespace {

/// SIGPIPE's disposition now.
void (*sigpipe_handler())(int) {
  struct sigaction now {};
  ::sigaction(SIGPIPE, nullptr, &now);
  return now.sa_handler;
}

// Two threads ignoring SIGPIPE, ending in the other order than they began:
// it stays ignored until the last ends, then is as before.
TEST(SigpipeIgnored, StaysIgnoredUntilTheLastHolderEnds) {
  struct sigaction dfl {
  }, was{};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, &was);
  auto first = std::make_unique<SigpipeIgnored>();
  auto second = std::make_unique<SigpipeIgnored>();
  first.reset();
  EXPECT_EQ(sigpipe_handler(), SIG_IGN);
  second.reset();
  EXPECT_EQ(sigpipe_handler(), SIG_DFL);
  ::sigaction(SIGPIPE, &was, nullptr);
}

// A program crt runs (a CNI plugin, iptables-restore) is in a process group
// of its own: a ^C at the terminal, sent to crt's group, does not kill it
// half-way through its work.
TEST(RunProgram, RunsInAProcessGroupOfItsOwn) {
  ProgramResult r = run_program({"/bin/sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"}, {});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string pid = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(r.out, pid + "\n" + pid + "\n") << "its own group, which it leads";
  EXPECT_NE(pid, std::to_string(::getpgrp()));
}

}  // namespace
}  // namespace crt
