#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/message.hpp"
#include "pod/manifest.hpp"
#include "runtime/stdio_relay.hpp"

namespace crt::runtime {

struct SuperviseOptions {
  pid_t nspawn_pid = -1;
  /// The pod's journal directory; empty: do not follow it (an interactive
  /// pod on a terminal: the pod's own errors are on the terminal, and the
  /// app's output comes through `stdio`).
  std::filesystem::path journal_dir;
  std::vector<std::string> apps;
  bool prefix_app_names = false;  ///< multi-app pods: "app: line"
  /// The apps' output is read from the journal; false: it comes through
  /// `stdio`, and the journal gives only the pod's own errors.
  bool journal_has_app_output = true;
  /// nspawn's readiness socket (its NOTIFY_SOCKET); on READY=1 `ready_file`
  /// is created and READY=1 passed on to crt's own $NOTIFY_SOCKET, if any.
  int notify_fd = -1;
  std::filesystem::path ready_file;
  /// Called with the host PID of the pod's init when nspawn reports it
  /// (X_NSPAWN_LEADER_PID), always before READY=1 is passed on.
  std::function<void(pid_t)> on_leader;
  /// What the pod does now, for crt's service manager ($NOTIFY_SOCKET), if
  /// any: passed on as STATUS= with READY=1 and at each app's end (a record
  /// in `status_dir`).
  std::function<std::string()> pod_status;
  std::filesystem::path status_dir;
  /// Asked when READY=1 comes: true when an app has failed already and the
  /// pod is ending. The pod's systemd reports itself ready once its start
  /// jobs are done, failed ones included; such a pod is never called ready.
  std::function<bool()> pod_ending;
  /// A listening socket (mount::kPodStarterSocket): when the first
  /// connection comes, or the pod's systemd takes an orderly stop, whichever
  /// is first, `on_starter` is called once, and the socket is no longer
  /// watched. What it throws stops the pod at once and is reported in
  /// PodEnd::error.
  int starter_fd = -1;
  std::function<void()> on_starter;
  /// The apps' stdio sockets (see StdioRelay), in a pod whose apps do not
  /// have the user's terminal: their output, copied to crt's and to the
  /// pod's journal, and an interactive app's stdin, crt's relayed.
  std::optional<StdioSockets> stdio;
  /// Called on SIGWINCH (the user's terminal changed its size), if set.
  std::function<void()> on_window_change;
  /// Gets the pod's own errors ("pod: …").
  MessageSink messages;
  /// A pod asked to stop that has not ended this long after the first
  /// request is killed (its systemd may never finish an orderly stop: a
  /// stop job that hangs, a store removed under the pod).
  std::chrono::milliseconds stop_timeout{20000};
  /// How much longer than stop_timeout a unit that stops crt is asked to
  /// wait, for crt's cleanup after the pod (cleanup_time()).
  std::chrono::milliseconds stop_cleanup = pod::kStopCleanup;
  /// The pod's directory: when it is deleted (by hand: nothing of crt does
  /// while the pod runs), the apps' ends can no longer be recorded, and the
  /// pod is stopped. Empty: not watched.
  std::filesystem::path pod_dir;
};

/// What a message on nspawn's readiness socket says.
struct NspawnNotice {
  bool ready = false;           ///< READY=1
  std::optional<pid_t> leader;  ///< X_NSPAWN_LEADER_PID=
};

/// Parses one sd_notify(3) datagram ("KEY=VALUE" lines).
NspawnNotice parse_nspawn_notice(std::string_view msg);

/// How the pod ended, as its supervisor saw it.
struct PodEnd {
  int nspawn_status = 0;  ///< exit status, 128 + signal if killed
  int stop_signal = 0;    ///< the first signal that asked crt to stop the pod, or 0
  std::string error;      ///< what on_starter threw, or why the pod was stopped, if anything
  bool killed = false;    ///< crt run killed the pod (a second signal, its stop timeout)
  /// The apps whose start errors (JournalLine::kAppStartError) the pod's
  /// journal gave, and `messages` got.
  std::vector<std::string> start_errors_shown;
};

/// Waits for nspawn to exit while copying the apps' output from the pod's
/// journal (or their stdio sockets) to stdout (and the pod's own errors to
/// `messages`), and turning
/// SIGINT/SIGTERM/SIGHUP into a graceful stop of the pod (a second one stops
/// it at once, and so does the end of SuperviseOptions::stop_timeout); so is
/// the end of stdout's reader (EPIPE, SIGPIPE ignored). Expects SIGCHLD,
/// SIGINT, SIGTERM and SIGHUP to be blocked.
PodEnd supervise(const SuperviseOptions& opts);

/// Tells the unit crt runs in (Type=notify) how the pod ended (STATUS=),
/// and with `started` that it started, after the fact: its apps all ended
/// well before its systemd was ready (an app that ends at once, an exit
/// policy that ends the pod while another app still starts); systemd would
/// otherwise count the start a failure ("protocol"). Returns once systemd
/// has read it (it takes no message of a main process that has exited);
/// nothing outside a unit.
void tell_pod_end(const std::string& status, bool started);

}  // namespace crt::runtime
