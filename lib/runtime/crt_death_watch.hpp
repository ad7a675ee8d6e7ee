#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"

namespace crt::runtime {

/// The hidden command of crt that tears down the network of a pod whose
/// crt was killed (`crt --dir=DIR COMMAND UUID`, the pod's lock its fd 3),
/// once the pod has ended.
inline constexpr std::string_view kTeardownAfterCrtCommand = "network-teardown-after-crt";
/// Where that command finds the pod's lock.
inline constexpr int kTeardownAfterCrtLockFd = 3;
/// The option of that command (`--port-fds=N`) that says it has N sockets
/// holding the pod's host ports as its fds 4 to 3+N, to close once the
/// pod's network is torn down.
inline constexpr std::string_view kTeardownAfterCrtPortFdsOption = "--port-fds";
/// The first of those fds.
inline constexpr int kTeardownAfterCrtFirstPortFd = 4;
/// The option of that command that removes the pod too, after its network
/// (a pod of crt run --rm; also one without a network).
inline constexpr std::string_view kTeardownAfterCrtRemoveOption = "--remove";

/// nspawn stops the pod the orderly way on a first SIGTERM, and kills it
/// on a second. A parent-death signal on nspawn would come once for each
/// of crt's threads as they exit (the kernel hands nspawn to the next
/// thread, and signals it each time): crt killed could have its pod killed
/// too. Instead a single-threaded child of crt's waits for crt's death
/// (its own parent-death signal, however often it comes) and sends nspawn
/// one SIGTERM, through a pidfd. Destroyed, it ends without a signal.
/// Where the pod's stop was under way already (`stop_requested` notes that
/// nspawn had its SIGTERM), a second would kill the pod at once, its apps'
/// ends unrecorded: the stop gets `stop_timeout` to end the pod first, as
/// crt would have given it.
///
/// The apps' output connections crt reads (StdioRelay) are handed to the
/// watch too (keep_output()): with crt dead, an app that writes during its
/// stop would die of SIGPIPE, its stop cut short. The watch goes on with
/// them, into the pod's journal, until nspawn has ended, and with the
/// listeners of that output (keep_output_listener()) it takes the
/// connections made once crt is dead (an app restarted, an ExecStopPost=
/// command's output) too.
class StopOnCrtDeath {
 public:
  /// Whether the kernel has pidfds (Linux 5.3): else nspawn's own
  /// parent-death signal is all there is.
  static bool supported();
  /// `nspawn`: crt's child, not reaped yet.
  /// `flush_listener`: where app-exited asks for an app's output to be in
  /// the journal (StdioSockets::flush), which the watch answers once crt
  /// is dead; or -1.
  /// `once_ended`: crt's arguments (without argv[0]) for what is left to do
  /// once nspawn has ended after crt's death, which the watch then becomes
  /// (an exec of crt's own program), given the pod's lock `pod_lock` (an
  /// fd of crt's, the same open file nspawn holds) as its fd 3: the pod's
  /// network goes then, not at a crt gc (kTeardownAfterCrtCommand; with
  /// kTeardownAfterCrtRemoveOption, a crt run --rm's pod too), and the
  /// pod reads as running until it has. Empty, or no lock: nothing. The
  /// kept host port reservations (keep_port_reservation()) go along as its
  /// fds 4 and up, their count in a last argument
  /// (kTeardownAfterCrtPortFdsOption).
  StopOnCrtDeath(pid_t nspawn, const std::filesystem::path& stop_requested, std::chrono::milliseconds stop_timeout,
                 int flush_listener, int pod_lock = -1, const std::vector<std::string>& once_ended = {});
  ~StopOnCrtDeath();
  StopOnCrtDeath(const StopOnCrtDeath&) = delete;
  StopOnCrtDeath& operator=(const StopOnCrtDeath&) = delete;

  /// nspawn has been reaped: the watch has nothing left to stop. It is
  /// told to end now, and the destructor reaps it, by when it has ended
  /// while crt cleaned up.
  void cancel() noexcept;

  /// `conn`, crt's end of a connection of `app`'s stdout or stderr, is
  /// kept by the watch (a copy: crt reads it while it lives); its output
  /// goes to the pod's journal as written by the app's `uid` and `gid`.
  /// Best effort: a watch that has too many is not given more.
  void keep_output(int conn, const std::string& app, uid_t uid, gid_t gid) noexcept;
  /// `listener`, where `app`'s unit connects its stdout or stderr, is kept
  /// by the watch too: what connects once crt is dead, the watch accepts
  /// (as keep_output()).
  void keep_output_listener(int listener, const std::string& app, uid_t uid, gid_t gid) noexcept;
  /// The pod's init, whose journald gets the output of kept connections.
  void set_pod_leader(pid_t leader) noexcept;
  /// `socket`, one that holds a host port the pod forwards (a copy: crt
  /// holds it while it lives), is held by the watch too, after crt's death
  /// until the pod's network is torn down (no host service takes the port
  /// meanwhile, unaware that portmap sends its traffic to a pod that is
  /// gone). Best effort, as keep_output().
  void keep_port_reservation(int socket) noexcept;
  /// The watch lets go of its copy of `socket` (kept by
  /// keep_port_reservation()): nothing is forwarded on the port any more.
  void drop_port_reservation(int socket) noexcept;

 private:
  void hand_over_app_fd(int fd, bool listening, const std::string& app, uid_t uid, gid_t gid) noexcept;

  pid_t pid_ = -1;
  UniqueFd handover_;  ///< crt's end of the socket to the watch
};

}  // namespace crt::runtime
