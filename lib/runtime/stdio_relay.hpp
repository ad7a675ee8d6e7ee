#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/message.hpp"
#include "runtime/output_writer.hpp"

namespace crt::runtime {

/// A listening socket an app's unit connects its stdout or its stderr to
/// (StandardOutput=file:…, mount::output_socket()).
struct OutputSocket {
  int fd = -1;
  std::string app;
  bool is_stderr = false;  ///< copied to crt's stderr, else to its stdout
  /// The app's user and group (User=, Group=), as whom its output goes to
  /// the journal (_UID=, _GID=), whichever of its unit's processes sent it.
  uid_t uid = 0;
  gid_t gid = 0;
};

/// The listening sockets of a pod's stdio.
struct StdioSockets {
  /// The app's stdin (an interactive pod without a terminal), or -1.
  int in = -1;
  std::vector<OutputSocket> outputs;
  /// Where an app's unit, once the app has ended, asks for its output to
  /// be complete in the pod's journal (mount::kPodOutputFlushSocket), or -1.
  int flush = -1;
  /// "APP: " before each line (a pod of several apps); else byte for byte.
  bool prefix_app_names = false;
  /// A copy of each app's output goes to the pod's journal, as the app's
  /// unit's output (see open_journal_stream()), once set_pod_leader() was
  /// called.
  bool to_journal = false;
  /// An interactive pod on a terminal: the master of crt's pty
  /// (PodTerminal), nspawn's stdin and stdout, or -1. crt's stdin goes to
  /// it, and what comes from it is app `terminal_app`'s output, which goes
  /// to crt's stdout and to the journal as written by `terminal_sender()`
  /// (the app's process, 0 while there is none); lines end in "\n" there.
  int terminal = -1;
  std::string terminal_app{};
  uid_t terminal_uid = 0;  ///< the terminal app's user and group (OutputSocket)
  gid_t terminal_gid = 0;
  std::function<pid_t()> terminal_sender{};
  /// Told of each connection of an app's stdout or stderr the relay takes
  /// (crt's end, and its socket), for what is to outlive crt
  /// (StopOnCrtDeath::keep_output()).
  std::function<void(int conn, const OutputSocket&)> on_output{};
  /// Whether the pod is being killed (crt stop --force or --timeout=0, a
  /// stop past its timeout, crt run's own kill): its journald dies with it,
  /// so that an app's output that can no longer reach the pod's journal is
  /// no failure to warn of. None: it never is.
  std::function<bool()> pod_killed{};
};

/// crt's own side of the relay: its stdin, and writers of its stdout and
/// stderr.
struct UserStdio {
  int in = 0;  ///< STDIN_FILENO
  OutputWriter* out = nullptr;
  OutputWriter* err = nullptr;
};

/// Relays the apps' stdio and crt's own, in `ev`'s loop: crt's stdin goes
/// to the app's stdin (end of file included: the app reads EOF after what
/// was there), and what the apps write to their stdout and stderr goes to
/// crt's (byte for byte, or in lines with the app's name), and to the pod's
/// journal. A restarted app connects anew and gets what is left of crt's
/// stdin.
///
/// While a writer is full, or the pod's journald is behind, the output of
/// the apps waits (and so do the apps, once their sockets' buffers are
/// full): call resume() when a writer has room again.
class StdioRelay {
 public:
  /// What the relay has to give up goes to `messages` as a warning.
  StdioRelay(sd_event* ev, StdioSockets listening, UserStdio user, MessageSink messages);
  ~StdioRelay();
  StdioRelay(const StdioRelay&) = delete;
  StdioRelay& operator=(const StdioRelay&) = delete;

  /// The pod's init, whose journald gets the copies of the apps' output.
  void set_pod_leader(pid_t leader) noexcept;

  /// A writer has room again: the apps' output to it goes on.
  void resume() noexcept;

  /// Once the pod has ended: copies what its apps wrote and crt has not
  /// read yet (also from connections not yet accepted) to crt's stdout and
  /// stderr, waiting for room in the writers as it goes.
  void drain() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crt::runtime
