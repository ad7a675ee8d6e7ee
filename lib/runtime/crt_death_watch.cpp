#include "runtime/crt_death_watch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/fd_passing.hpp"
#include "common/fs.hpp"
#include "common/subprocess.hpp"
#include "mount/mounts.hpp"
#include "runtime/journal_stream.hpp"
#include "runtime/pod_dir.hpp"
#include "runtime/spawn.hpp"

namespace crt::runtime {

namespace {

/// What crt hands its watch (StopOnCrtDeath), one message each: an app's
/// output connection or listening socket, or a socket holding a host port,
/// as its one SCM_RIGHTS fd, or the pod's init. No member initialisers:
/// the watch's tables of them (KeptOutput, KeptListener) stay unwritten
/// until used. Senders value-initialise it (Handover h{}).
struct Handover {
  pid_t leader;       ///< > 0: the pod's init (no fd)
  int32_t listening;  ///< != 0: the fd is the listener of the app's stdout or stderr
  /// 1: the fd holds a host port (no app's); -1: the watch's copy of the
  /// fd's socket is to be closed.
  int32_t port;
  uid_t uid;          ///< the app's user and group
  gid_t gid;
  uint32_t header_size;
  char header[256];  ///< journal_stream_header() of the app (its name has at most 64 bytes)
};

/// An output connection the watch keeps, and its stream into the pod's
/// journal once it has had output after crt's death. Left uninitialised
/// until used: the watch's memory is only what it keeps.
struct KeptOutput {
  int conn;
  int journal;
  bool journal_failed;
  /// Once its app has ended: the process of its unit that asked for its
  /// output to be in the journal (app-exited), as whom the rest goes, as
  /// StdioRelay sends it; else 0.
  pid_t ended_by;
  Handover about;
};

/// An app's output listener the watch keeps, to accept what connects once
/// crt is dead (an app restarted, an ExecStopPost= that prints): left to
/// nspawn's copy alone, such a connection would never be read, and its
/// writer would block once the socket's buffer was full.
struct KeptListener {
  int fd;
  Handover about;
};

/// Whether `h` is of app `app`: its journal header names it.
bool of_app(const Handover& h, std::string_view app) noexcept {
  std::string_view header(h.header, h.header_size);
  return header.size() > app.size() && header.starts_with(app) && header[app.size()] == '\n';
}

/// CLOCK_MONOTONIC in ms.
int64_t now_ms() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

/// What the watch keeps. Only system calls here: it runs in a child forked
/// from crt, which may have threads.
struct KeptOutputs {
  static constexpr int kMax = 256;
  KeptOutput outputs[kMax];
  int count = 0;
  KeptListener listeners[kMax];
  int listener_count = 0;
  pid_t leader = 0;
  int flush = -1;  ///< the listener of app-exited's flush requests
  int ports[kMax];  ///< sockets that hold the pod's host ports
  int port_count = 0;

  /// Keeps `fd` among the ports (`port` > 0), or closes the kept copy of
  /// its socket and `fd`.
  void take_port(int fd, int32_t port) noexcept {
    if (port > 0 && port_count < kMax) {
      ports[port_count++] = fd;
      return;
    }
    struct stat dropped {};
    if (port < 0 && ::fstat(fd, &dropped) == 0)
      for (int i = 0; i < port_count; ++i) {
        struct stat kept {};
        if (::fstat(ports[i], &kept) == 0 && kept.st_dev == dropped.st_dev && kept.st_ino == dropped.st_ino) {
          ::close(ports[i]);
          ports[i] = ports[--port_count];
          break;
        }
      }
    ::close(fd);
  }

  /// Moves the ports to fds `first` and up (not close-on-exec), each above
  /// them first: one may be where another goes. Returns how many are there.
  int move_ports_to(int first) noexcept {
    int above[kMax];
    int n = 0;
    for (; n < port_count; ++n)
      if ((above[n] = ::fcntl(ports[n], F_DUPFD_CLOEXEC, first + port_count)) < 0) break;
    int moved = 0;
    while (moved < n && ::dup2(above[moved], first + moved) == first + moved) ++moved;
    return moved;
  }

  void close_output(int i) noexcept {
    ::close(outputs[i].conn);
    if (outputs[i].journal >= 0) ::close(outputs[i].journal);
    outputs[i] = outputs[--count];
  }

  /// Keeps `conn`, of the app `about` tells; closes it if there is no
  /// room (best effort).
  void add_output(int conn, const Handover& about) noexcept {
    if (count == kMax) {
      ::close(conn);
      return;
    }
    outputs[count] = KeptOutput{conn, -1, false, 0, about};
    ++count;
  }

  /// Takes crt's messages; false once crt's end is closed.
  bool receive(int handover) noexcept {
    for (;;) {
      Handover h;
      int fd = -1;
      ssize_t n = receive_with_fd(handover, &h, sizeof h, &fd, MSG_DONTWAIT);
      if (n < 0) return errno == EAGAIN;
      if (n == 0) return false;
      if (n == sizeof h && h.leader > 0) leader = h.leader;
      if (fd < 0) continue;
      if (n == sizeof h && h.port != 0) {
        take_port(fd, h.port);
      } else if (n != sizeof h || h.header_size > sizeof h.header) {
        ::close(fd);
      } else if (h.listening == 0) {
        add_output(fd, h);
      } else if (listener_count < kMax) {
        listeners[listener_count++] = KeptListener{fd, h};
      } else {
        ::close(fd);
      }
    }
  }

  /// Accepts a connection waiting on listener `i`, if there is one (crt's
  /// and nspawn's copy block: the listener is polled first); false if none.
  bool accept_from(int i) noexcept {
    if (count == kMax) return false;  // left queued: the watch keeps no more
    pollfd p{listeners[i].fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    int conn = ::accept4(listeners[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) {
      // Out of fds, say: the listener would wake the loop for ever.
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        ::close(listeners[i].fd);
        listeners[i] = listeners[--listener_count];
      }
      return false;
    }
    add_output(conn, listeners[i].about);
    return true;
  }

  /// Who the output of `o` goes as: its app's process that connected, or
  /// once the app has ended its unit's process that asked for a flush (the
  /// pod's init once that has ended, see send()).
  JournalSender writer_of(const KeptOutput& o) const noexcept {
    pid_t pid = o.ended_by > 0 ? o.ended_by : peer_pid(o.conn);
    return JournalSender{pid > 0 ? pid : leader, o.about.uid, o.about.gid};
  }

  /// Sends `data` on `o`'s stream as `sender` (as the pod's init once that
  /// process has ended), waiting for journald a while; false if it could
  /// not.
  bool send(const KeptOutput& o, std::string_view data, JournalSender sender) const noexcept {
    // Whole lines where it can, as StdioRelay sends them: journald ends a
    // line where its sender changes (here: to the pod's init once the
    // app's process has ended).
    const size_t whole = whole_send_size(o.journal);
    while (!data.empty()) {
      ssize_t n = send_as(o.journal, next_send(data, whole), sender);
      if (n >= 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (errno == ESRCH && sender.pid != leader) {
        sender.pid = leader;  // the app's process has ended
      } else if (errno == EAGAIN) {
        pollfd p{o.journal, POLLOUT, 0};
        if (::poll(&p, 1, 1000) != 1) return false;
      } else if (errno != EINTR) {
        return false;
      }
    }
    return true;
  }

  /// What the app of `o` wrote goes to the pod's journal: its output is
  /// dropped if that cannot be.
  void forward(KeptOutput& o, std::string_view data) noexcept {
    if (o.journal < 0) {
      if (o.journal_failed || leader <= 0) return;
      o.journal = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (o.journal < 0 || connect_journal_stream(o.journal, leader) != 0 ||
          !send(o, std::string_view(o.about.header, o.about.header_size), JournalSender{leader})) {
        if (o.journal >= 0) ::close(o.journal);
        o.journal = -1;
        o.journal_failed = true;
        return;
      }
    }
    if (!send(o, data, writer_of(o))) {
      ::close(o.journal);
      o.journal = -1;
      o.journal_failed = true;
    }
  }

  /// Reads what is in `o` and forwards it; false once its app's end is
  /// closed.
  bool forward_some(KeptOutput& o) noexcept {
    static char buf[64 * 1024];
    ssize_t n = ::read(o.conn, buf, sizeof buf);
    if (n > 0) forward(o, std::string_view(buf, static_cast<size_t>(n)));
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
  }

  /// app-exited's request, once the app has ended, to have its output in
  /// the pod's journal (as StdioRelay answers it while crt lives): all
  /// that is in the app's connections is forwarded, then it is answered.
  void answer_flush_request() noexcept {
    int conn = ::accept4(flush, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      // Out of fds, say: the listener would wake the loop for ever.
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) flush = -1;
      return;
    }
    char request[256];
    size_t got = 0;
    const char* nl = nullptr;
    // app-exited writes its request as it connects: a client that does
    // not holds the watch up half a second at most.
    const int64_t until = now_ms() + 500;
    while (nl == nullptr && got < sizeof request) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(until - now_ms(), 0))) != 1) break;
      ssize_t n = ::read(conn, request + got, sizeof request - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
      nl = static_cast<const char*>(std::memchr(request, '\n', got));
    }
    if (nl != nullptr) {
      std::string_view line(request, static_cast<size_t>(nl - request));
      std::string_view app = line.substr(0, line.find(' '));
      // Also what the app's unit connected and no one has accepted yet.
      // At most as many as it keeps: a unit that connects on and on does
      // not hold the watch here.
      for (int l = listener_count - 1; l >= 0; --l)
        for (int n = 0; n < kMax && of_app(listeners[l].about, app) && accept_from(l); ++n) {
        }
      const pid_t requester = peer_pid(conn);
      for (int i = count - 1; i >= 0; --i) {
        if (!of_app(outputs[i].about, app)) continue;
        outputs[i].ended_by = requester;
        // What is there now: a stray process of the app's unit may write on.
        for (int reads = 0; reads < 64; ++reads) {
          pollfd p{outputs[i].conn, POLLIN, 0};
          if (::poll(&p, 1, 0) != 1) break;
          if (!forward_some(outputs[i])) {
            close_output(i);
            break;
          }
        }
      }
      (void)::send(conn, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::close(conn);
  }

  /// Forwards the apps' output, from the connections it has and from those
  /// made meanwhile, until nspawn (`nspawn_fd`, a pidfd) has ended, true,
  /// or `timeout_ms` (-1: none) have passed, false.
  bool forward_until_end(int nspawn_fd, int timeout_ms) noexcept {
    const int64_t until = now_ms() + timeout_ms;
    for (;;) {
      pollfd fds[2 + 2 * kMax];
      fds[0] = {nspawn_fd, POLLIN, 0};
      fds[1] = {flush, POLLIN, 0};  // ignored if -1
      for (int i = 0; i < count; ++i) fds[2 + i] = {outputs[i].conn, POLLIN, 0};
      const int listening = listener_count;  // accept_from() may drop one
      for (int l = 0; l < listening; ++l) fds[2 + count + l] = {listeners[l].fd, POLLIN, 0};
      int wait_ms = -1;
      if (timeout_ms >= 0) {
        // Checked at each pass: apps that write without a pause keep the
        // poll from ever timing out.
        int64_t left = until - now_ms();
        if (left <= 0) return ::poll(fds, 1, 0) == 1;
        wait_ms = static_cast<int>(left);
      }
      const int polled = count;
      int r = ::poll(fds, static_cast<nfds_t>(2 + polled + listening), wait_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      if (fds[0].revents != 0) return true;
      for (int i = polled - 1; i >= 0; --i)
        if (fds[2 + i].revents != 0 && !forward_some(outputs[i])) close_output(i);
      // From the last: accept_from() may move the last into a dropped one's place.
      for (int l = listening - 1; l >= 0; --l)
        if (fds[2 + polled + l].revents != 0) (void)accept_from(l);
      if (fds[1].revents != 0) answer_flush_request();
    }
  }

  /// Until crt's death (SIGUSR1 on `death`, a signalfd): takes what crt
  /// hands over, and lets go of connections whose app has closed its end.
  /// False if poll() failed.
  bool keep_until_death(int death, int handover) noexcept {
    for (;;) {
      pollfd fds[2 + kMax];
      fds[0] = {death, POLLIN, 0};
      fds[1] = {handover, POLLIN, 0};  // ignored once -1
      for (int i = 0; i < count; ++i) fds[2 + i] = {outputs[i].conn, 0, 0};
      int r = ::poll(fds, static_cast<nfds_t>(2 + count), -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return false;
      if (fds[0].revents != 0) {
        // What crt handed over just before it died is still queued.
        if (handover >= 0) receive(handover);
        return true;
      }
      for (int i = count - 1; i >= 0; --i)
        if (fds[2 + i].revents != 0) close_output(i);
      if (fds[1].revents != 0 && !receive(handover)) {
        ::close(handover);
        handover = -1;
      }
    }
  }
};

/// Sends `h` to the watch, with `fd` unless -1. The socket's buffer holds about a hundred
/// such messages: the apps of a big pod that all start at once wait for
/// the watch a moment.
void hand_over(int watch, const Handover& h, int fd) noexcept {
  for (int tries = 0; tries < 20; ++tries) {
    if (send_with_fd(watch, &h, sizeof h, fd, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 || errno != EAGAIN) return;
    pollfd p{watch, POLLOUT, 0};
    (void)::poll(&p, 1, 10);
  }
}

}  // namespace

bool StopOnCrtDeath::supported() {
  static const bool have = open_pidfd(::getpid()).valid();
  return have;
}

StopOnCrtDeath::StopOnCrtDeath(pid_t nspawn, const std::filesystem::path& stop_requested,
                               std::chrono::milliseconds stop_timeout, int flush_listener, int pod_lock,
                               const std::vector<std::string>& once_ended) {
  const std::string stop_file = stop_requested.string();
  // Made before the fork: no allocation after it. /proc/self/exe is crt's
  // program even if its file was replaced or removed meanwhile.
  std::vector<std::string> then_args;
  std::vector<char*> then_argv;
  // The count of ports passed on is written into the last argument's room.
  const size_t port_count_at = kTeardownAfterCrtPortFdsOption.size() + 1;
  if (!once_ended.empty()) {
    then_args.push_back("crt");
    then_args.insert(then_args.end(), once_ended.begin(), once_ended.end());
    then_args.push_back(std::string(kTeardownAfterCrtPortFdsOption) + "=" + std::string(12, '\0'));
    for (auto& a : then_args) then_argv.push_back(a.data());
    then_argv.push_back(nullptr);
  }
  const int stop_ms = static_cast<int>(std::min<int64_t>(stop_timeout.count(), INT32_MAX));
  UniqueFd pidfd = open_pidfd(nspawn);
  if (!pidfd) throw_errno("opening a pidfd of systemd-nspawn");
  UniqueFd null = fs::open_fd("/dev/null", O_RDWR);
  int host_ns = mount::original_mount_namespace();
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  int max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));
  sigset_t all, death;
  sigfillset(&all);
  sigemptyset(&death);
  sigaddset(&death, SIGUSR1);
  // Its own name and command line, so that what is meant for crt run
  // (killall -9 crt, pkill -9 -f 'crt run') does not end it with crt: the
  // pod would be left up, unwatched. Written over crt's arguments, whose
  // length is that of /proc/self/cmdline.
  std::string title = "pod-watch " + std::to_string(nspawn);
  size_t args_size = 0;
  try {
    args_size = fs::read_file("/proc/self/cmdline").size();
  } catch (const Error&) {
  }
  char* args = program_invocation_name;  // argv[0], followed by the other arguments
  int ends[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) < 0) throw_errno("creating a socket pair");
  UniqueFd crt_end(ends[0]), watch_end(ends[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("forking the pod's watch of crt");
  if (pid > 0) {
    pid_ = pid;
    handover_ = std::move(crt_end);
    return;
  }
  // Only system calls from here, as after any fork of a process that may
  // have threads (today crt has one here; a D-Bus client may add some, and
  // a lock held by one would never be released). Nothing but crt's death
  // ends it: every signal blocked (SIGKILL aside), and a session of its own,
  // so that what is sent to crt's process group (Ctrl-\, kill %1, timeout
  // -s KILL) does not take it along with crt.
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::setsid();
  ::prctl(PR_SET_NAME, "pod-watch");
  if (args != nullptr && args_size > 1) {
    std::memset(args, 0, args_size);
    std::memcpy(args, title.data(), std::min(title.size(), args_size - 1));
  }
  ::prctl(PR_SET_PDEATHSIG, SIGUSR1);
  int nspawn_fd = pidfd.get();
  KeptOutputs kept;
  int watch_lock = -1;
  const bool crt_lives = ::getppid() == parent;
  {
    // Nothing of crt's kept open: not its stdout's reader waiting for EOF,
    // not nspawn's start gate, not its private mount namespace.
    if (host_ns >= 0) (void)::setns(host_ns, CLONE_NEWNS);
    // Its own fds 3, 4 and 5, copied above 5 first: each may be one of 0
    // to 5 (crt may even have run without a stdin).
    int nspawn_copy = ::fcntl(pidfd.get(), F_DUPFD_CLOEXEC, 6);
    int handover_copy = ::fcntl(watch_end.get(), F_DUPFD_CLOEXEC, 6);
    int flush_copy = flush_listener >= 0 ? ::fcntl(flush_listener, F_DUPFD_CLOEXEC, 6) : -1;
    int lock_copy = !then_argv.empty() && pod_lock >= 0 ? ::fcntl(pod_lock, F_DUPFD_CLOEXEC, 7) : -1;
    for (int i = 0; i < 3; ++i) ::dup2(null.get(), i);
    int handover = -1;
    if (nspawn_copy >= 0 && handover_copy >= 0 && ::dup2(nspawn_copy, 3) == 3 && ::dup2(handover_copy, 4) == 4) {
      nspawn_fd = 3;
      handover = 4;
      unsigned first_closed = 5;
      if (flush_copy >= 0 && ::dup2(flush_copy, 5) == 5) {
        kept.flush = 5;
        first_closed = 6;
      }
      // The pod's lock (the same open file as crt's and nspawn's): the pod
      // reads as running until its network is torn down after its end.
      if (const int at = static_cast<int>(first_closed); lock_copy >= 0 && ::dup3(lock_copy, at, O_CLOEXEC) == at) {
        watch_lock = at;
        ++first_closed;
      }
      if (::close_range(first_closed, ~0U, 0) < 0)
        for (int fd = static_cast<int>(first_closed); fd < max_fd; ++fd) ::close(fd);
    } else {
      // Out of fds: nothing is kept. crt's hand-overs fail at once rather
      // than wait for a full queue, and app-exited finds no listener once
      // crt is gone, rather than one that never answers.
      for (int fd : {watch_end.get(), handover_copy, flush_listener, flush_copy, lock_copy})
        if (fd >= 0) ::close(fd);
    }
    int death_fd = handover >= 0 && crt_lives ? ::signalfd(-1, &death, SFD_CLOEXEC) : -1;
    if (!crt_lives) {
      // It died at once: what it handed over is queued still.
      if (handover >= 0) kept.receive(handover);
    } else if (death_fd < 0 || !kept.keep_until_death(death_fd, handover)) {
      if (handover >= 0) ::close(handover);  // as above
      while (::sigwaitinfo(&death, nullptr) < 0 && errno == EINTR) {
      }
    }
  }
  int stop = ::open(stop_file.c_str(), O_RDONLY | O_CLOEXEC);
  char sent = 0;
  if (stop >= 0 && ::pread(stop, &sent, 1, PodDir::kStopSentAt) == 1 && sent == 's') {
    // The stop's timeout counts from its SIGTERM, not from crt's death.
    int wait_ms = stop_ms;
    int64_t sent_ns = 0;
    timespec now{};
    if (::pread(stop, &sent_ns, sizeof sent_ns, PodDir::kStopSentTimeAt) == sizeof sent_ns && sent_ns > 0 &&
        ::clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
      int64_t since_ms = (static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec - sent_ns) / 1000000;
      wait_ms = static_cast<int>(std::clamp<int64_t>(stop_ms - since_ms, 0, stop_ms));
    }
    // nspawn's pidfd reads as soon as it has exited.
    kept.forward_until_end(nspawn_fd, wait_ms);
  }
  if (stop >= 0) ::close(stop);
  ::syscall(SYS_pidfd_send_signal, nspawn_fd, SIGTERM, nullptr, 0);
  if (kept.count > 0 || kept.listener_count > 0) kept.forward_until_end(nspawn_fd, -1);
  if (!then_argv.empty() && watch_lock >= 0) {
    // The pod's network is crt's to tear down once nspawn has ended: its
    // host ports would go on taking their traffic to a pod that is gone.
    // The pod's lock goes along as fd 3.
    pollfd p{nspawn_fd, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    if (::dup2(watch_lock, 3) != 3) _exit(0);
    // The host ports stay held until the network's teardown has removed
    // their forwarding.
    const int ports = kept.move_ports_to(kTeardownAfterCrtFirstPortFd);
    char* count = then_argv[then_argv.size() - 2] + port_count_at;
    char digits[12];
    int len = 0;
    for (int v = ports; len == 0 || v > 0; v /= 10) digits[len++] = static_cast<char>('0' + v % 10);
    for (int i = 0; i < len; ++i) count[i] = digits[len - 1 - i];
    count[len] = '\0';
    // The kept connections, nspawn's pidfd: not the new program's.
    ::close_range(static_cast<unsigned>(kTeardownAfterCrtFirstPortFd + ports), ~0U, 0);
    ::prctl(PR_SET_PDEATHSIG, 0);
    // What came while every signal was blocked (crt's death signal, at
    // least) is dropped, not delivered to end it now: ignoring a signal
    // discards it.
    sigset_t pending, none;
    sigemptyset(&none);
    if (::sigpending(&pending) == 0)
      for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP && sigismember(&pending, sig) == 1) {
          struct sigaction ignore {}, dfl {};
          ignore.sa_handler = SIG_IGN;
          dfl.sa_handler = SIG_DFL;
          ::sigaction(sig, &ignore, nullptr);
          ::sigaction(sig, &dfl, nullptr);
        }
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve("/proc/self/exe", then_argv.data(), environ);
  }
  _exit(0);
}

void StopOnCrtDeath::cancel() noexcept {
  if (pid_ > 0) ::kill(pid_, SIGKILL);  // not reaped yet: the PID is still its
}

void StopOnCrtDeath::keep_output(int conn, const std::string& app, uid_t uid, gid_t gid) noexcept {
  hand_over_app_fd(conn, false, app, uid, gid);
}

void StopOnCrtDeath::keep_output_listener(int listener, const std::string& app, uid_t uid, gid_t gid) noexcept {
  hand_over_app_fd(listener, true, app, uid, gid);
}

void StopOnCrtDeath::hand_over_app_fd(int fd, bool listening, const std::string& app, uid_t uid, gid_t gid) noexcept {
  if (!handover_) return;
  Handover h{};
  h.listening = listening ? 1 : 0;
  h.uid = uid;
  h.gid = gid;
  try {
    std::string header = journal_stream_header(app);
    if (header.size() > sizeof h.header) return;
    std::memcpy(h.header, header.data(), header.size());
    h.header_size = static_cast<uint32_t>(header.size());
  } catch (const std::exception&) {
    return;
  }
  hand_over(handover_.get(), h, fd);
}

void StopOnCrtDeath::keep_port_reservation(int socket) noexcept {
  if (!handover_) return;
  Handover h{};
  h.port = 1;
  hand_over(handover_.get(), h, socket);
}

void StopOnCrtDeath::drop_port_reservation(int socket) noexcept {
  if (!handover_) return;
  Handover h{};
  h.port = -1;
  hand_over(handover_.get(), h, socket);
}

void StopOnCrtDeath::set_pod_leader(pid_t leader) noexcept {
  if (!handover_) return;
  Handover h{};
  h.leader = leader;
  hand_over(handover_.get(), h, -1);
}

StopOnCrtDeath::~StopOnCrtDeath() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  (void)wait_child(pid_, nullptr);
}

}  // namespace crt::runtime
