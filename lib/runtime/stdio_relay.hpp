#pragma once

#include <systemd/sd-event.h>

#include <memory>

#include "common/message.hpp"
#include "runtime/output_writer.hpp"

namespace crt::runtime {

/// Listening sockets the app of an interactive pod without a terminal
/// connects its stdin, stdout and stderr to (mount::kPodStdinSocket …).
struct StdioSockets {
  int in = -1;
  int out = -1;
  int err = -1;
};

/// crt's own side of the relay: its stdin, and writers of its stdout and
/// stderr.
struct UserStdio {
  int in = 0;  ///< STDIN_FILENO
  OutputWriter* out = nullptr;
  OutputWriter* err = nullptr;
};

/// Relays crt's own stdin, stdout and stderr to the app's connections, in
/// `ev`'s loop: crt's stdin goes to the app's stdin (end of file included:
/// the app reads EOF after what was there), and what the app writes to its
/// stdout and stderr goes to crt's, byte for byte. A restarted app connects
/// anew and gets what is left of crt's stdin.
///
/// While a writer is full, the app's output to it waits (and so does the
/// app, once its socket's buffer is full): call resume() when the writer
/// has room again.
class StdioRelay {
 public:
  /// What the relay has to give up goes to `messages` as a warning.
  StdioRelay(sd_event* ev, StdioSockets listening, UserStdio user, MessageSink messages);
  ~StdioRelay();
  StdioRelay(const StdioRelay&) = delete;
  StdioRelay& operator=(const StdioRelay&) = delete;

  /// A writer has room again: the app's output to it goes on.
  void resume() noexcept;

  /// Once the pod has ended: copies what its app wrote and crt has not
  /// read yet (also from connections not yet accepted), waiting for room
  /// in the writers as it goes.
  void drain() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crt::runtime
