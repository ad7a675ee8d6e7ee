#include <gtest/gtest.h>
#include <signal.h>

#include <memory>

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

}  // namespace
}  // namespace crt
