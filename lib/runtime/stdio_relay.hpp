#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <memory>

#include "common/message.hpp"

namespace crt::runtime {

/// Listening sockets the app of an interactive pod without a terminal
/// connects its stdin, stdout and stderr to (mount::kPodStdinSocket …).
struct StdioSockets {
  int in = -1;
  int out = -1;
  int err = -1;
};

/// crt's own side of the relay.
struct UserStdio {
  int in = 0;   ///< STDIN_FILENO
  int out = 1;  ///< STDOUT_FILENO
  int err = 2;  ///< STDERR_FILENO
};

/// Relays crt's own stdin, stdout and stderr to the app's connections, in
/// `ev`'s loop: crt's stdin goes to the app's stdin (end of file included:
/// the app reads EOF after what was there), and what the app writes to its
/// stdout and stderr goes to crt's, byte for byte. A restarted app connects
/// anew and gets what is left of crt's stdin. Expects SIGPIPE ignored.
class StdioRelay {
 public:
  /// `on_stdout_gone` is called once when crt's stdout has no reader left;
  /// what the relay has to give up goes to `messages` as a warning.
  StdioRelay(sd_event* ev, StdioSockets listening, std::function<void()> on_stdout_gone, MessageSink messages,
             UserStdio user = {});
  ~StdioRelay();
  StdioRelay(const StdioRelay&) = delete;
  StdioRelay& operator=(const StdioRelay&) = delete;

  /// Once the pod has ended: copies what its app wrote and crt has not
  /// read yet (also from connections not yet accepted).
  void drain() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crt::runtime
