#include "common/stop_signal.hpp"

#include <csignal>
#include <initializer_list>

namespace crt {

int pending_stop_signal() {
  sigset_t pending;
  sigpending(&pending);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    if (sigismember(&pending, s)) return s;
  return 0;
}

}  // namespace crt
