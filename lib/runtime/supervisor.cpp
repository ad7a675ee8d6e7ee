#include "runtime/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "common/subprocess.hpp"
#include "pod/units.hpp"
#include "runtime/app_process.hpp"
#include "runtime/console_log.hpp"
#include "runtime/output_writer.hpp"
#include "runtime/pod_journal.hpp"
#include "runtime/slow_close.hpp"
#include "runtime/spawn.hpp"
#include "runtime/stop.hpp"

namespace crt::runtime {

namespace {

/// After EMFILE from inotify_init: which limit is used up. Each pod takes
/// several inotify instances (crt's, its systemd's and journald's), all
/// root's.
std::string inotify_hint(int err) {
  if (err != EMFILE) return "";
  // EMFILE is also this process's own limit of open files.
  if (UniqueFd probe(::open("/dev/null", O_RDONLY | O_CLOEXEC)); !probe && errno == EMFILE) {
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    return " (crt has as many files open as its limit allows, " + std::to_string(nofile.rlim_cur) +
           ": raise it, e.g. ulimit -n 1024, or LimitNOFILE= in a unit)";
  }
  std::string limit = "?";
  try {
    limit = trim_end(fs::read_file("/proc/sys/fs/inotify/max_user_instances"), "\n");
  } catch (const Error&) {
  }
  return " (root's inotify instances are used up: fs.inotify.max_user_instances is " + limit +
         ", and every pod takes about 8; raise it, e.g. sysctl fs.inotify.max_user_instances=1024)";
}

}  // namespace

namespace {

struct EventDeleter {
  void operator()(sd_event* e) const { sd_event_unref(e); }
};

class Supervisor {
 public:
  explicit Supervisor(const SuperviseOptions& o) : opts_(o) {}

  PodEnd run() {
    sd_event* raw = nullptr;
    if (int r = sd_event_new(&raw); r < 0) throw_errno(-r, "creating the event loop");
    std::unique_ptr<sd_event, EventDeleter> ev(raw);
    ev_ = ev.get();
    // A reader that goes away (crt run … | head) must not kill crt with the
    // pod still up: writing reports EPIPE, and the pod is stopped.
    SigpipeIgnored broken_stdout_is_an_error;
    // The apps' output goes out on threads of its own (see OutputWriter):
    // a stalled reader must not keep crt from signals and the pod's end.
    std::fflush(stdout);
    // In a unit whose output goes to the journal, a stream the journal
    // dropped is no reason to stop a service: the apps' output still goes
    // to the pod's own journal.
    bool to_the_journal = is_journal_stream(STDOUT_FILENO, std::getenv("JOURNAL_STREAM"));
    OutputWriter out(
        ev.get(), STDOUT_FILENO, [this] { output_has_room(); },
        [this, to_the_journal] {
          // Nobody reads the apps' output any more: stop the pod, as a shell
          // pipeline's writer would end (unless it has ended: nspawn is
          // reaped). Not a second time: a pipeline's reader that ^C ended
          // with crt is no reason to kill the pod its stop is under way.
          if (!to_the_journal && !nspawn_reaped_ && end_.stop_signal == 0) request_stop(SIGPIPE);
        });
    OutputWriter err(ev.get(), STDERR_FILENO, [this] { output_has_room(); }, {});
    out_ = &out;
    if (int r = sd_event_add_child(ev.get(), nullptr, opts_.nspawn_pid, WEXITED, &Guarded<&Supervisor::on_child>::call,
                                   this);
        r < 0)
      throw_errno(-r, "watching nspawn");
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
      if (int r = sd_event_add_signal(ev.get(), nullptr, sig, &Guarded<&Supervisor::on_signal>::call, this); r < 0)
        throw_errno(-r, "handling signals");
    if (opts_.on_window_change)
      if (int r = sd_event_add_signal(ev.get(), nullptr, SIGWINCH, &Guarded<&Supervisor::on_window_change>::call, this);
          r < 0)
        throw_errno(-r, "handling signals");
    if (!opts_.journal_dir.empty()) open_journal(ev.get());
    std::unique_ptr<StdioRelay> relay;
    if (opts_.stdio) {
      StdioSockets sockets = *opts_.stdio;
      // Killed by this crt too.
      sockets.pod_killed = [this, by_others = std::move(sockets.pod_killed)] {
        return end_.killed || (by_others && by_others());
      };
      relay = std::make_unique<StdioRelay>(ev.get(), sockets, UserStdio{STDIN_FILENO, &out, &err}, opts_.messages);
      relay_ = relay.get();
    }
    if (opts_.notify_fd >= 0)
      if (int r = sd_event_add_io(ev.get(), nullptr, opts_.notify_fd, EPOLLIN, &Guarded<&Supervisor::on_notify>::call,
                                  this);
          r < 0)
        throw_errno(-r, "watching the pod's readiness");
    if (opts_.starter_fd >= 0) {
      if (int r = sd_event_add_io(ev.get(), &starter_, opts_.starter_fd, EPOLLIN,
                                  &Guarded<&Supervisor::on_starter>::call, this);
          r < 0)
        throw_errno(-r, "watching the pod's start socket");
      // A stage1 whose prepare-app does not connect (one from before the
      // socket) still gets its apps started, once its systemd takes an
      // orderly stop.
      if (int r = sd_event_add_time_relative(ev.get(), &starter_timer_, CLOCK_MONOTONIC, 5000, 1000,
                                             &Guarded<&Supervisor::on_starter_timer>::call, this);
          r < 0)
        throw_errno(-r, "watching the pod's start");
    }
    if (!opts_.pod_dir.empty())
      // Its parent's event: the directory's own (IN_DELETE_SELF) waits for
      // the last descriptor of it to close, and crt holds its lock.
      if (int r = sd_event_add_inotify(ev.get(), nullptr, opts_.pod_dir.parent_path().c_str(), IN_DELETE | IN_ONLYDIR,
                                       &Guarded<&Supervisor::on_pod_dir>::call, this);
          r < 0)
        throw_errno(-r, "watching the pod's directory" + inotify_hint(-r));
    if (!opts_.status_dir.empty() && opts_.pod_status && std::getenv("NOTIFY_SOCKET") != nullptr)
      // Records are renamed into place, and removed as the pod reboots.
      if (int r =
              sd_event_add_inotify(ev.get(), nullptr, opts_.status_dir.c_str(), IN_MOVED_TO | IN_DELETE | IN_ONLYDIR,
                                   &Guarded<&Supervisor::on_app_exit>::call, this);
          r < 0)
        tell(opts_.messages,
             std::string("warning: systemctl status will not show the apps' ends: ") + std::strerror(-r));
    int r = sd_event_loop(ev.get());
    starter_ = sd_event_source_disable_unref(starter_);
    starter_timer_ = sd_event_source_disable_unref(starter_timer_);
    if (r < 0 || error_) {
      // The writers may wait for a stalled reader on the way out: the pod
      // is not to wait with them.
      if (!nspawn_reaped_) stop_now();
      if (error_) std::rethrow_exception(error_);
      throw_errno(-r, "supervising the pod");
    }
    if (relay) relay->drain();
    if (journal_) {
      journal_->process();
      while (print_new_entries()) out.wait_for_room();
    }
    relay_ = nullptr;
    relay.reset();
    out.finish();
    err.finish();
    if (int e = out.lost())
      tell(opts_.messages, "warning: some of the apps' output was not written to standard output (" +
                               output_error_text(e) + "); the pod's journal has it: crt logs");
    if (int e = err.lost())
      tell(opts_.messages, "warning: some of the apps' output was not written to standard error (" +
                               output_error_text(e) + "); the pod's journal has it: crt logs");
    return end_;
  }

 private:
  void open_journal(sd_event* ev) {
    journal_ = std::make_unique<PodJournal>(opts_.journal_dir, opts_.apps);
    journal_fd_ = journal_->fd();
    if (int r = sd_event_add_io(ev, nullptr, journal_fd_, journal_->events(), &Guarded<&Supervisor::on_journal>::call,
                                this);
        r < 0)
      throw_errno(-r, "watching the pod's journal");
  }

  /// Copies the journal's new lines to crt's stdout, until it is full:
  /// true if it stopped there.
  bool print_new_entries() {
    if (out_->full()) return true;
    bool full = false;
    journal_->for_each_new([&](const JournalLine& l) {
      if (l.kind == JournalLine::Kind::kPodError || l.kind == JournalLine::Kind::kAppStartError) {
        if (!repeats_exec_failure(l.message, errors_told_)) tell(opts_.messages, "pod: " + std::string(l.message));
        errors_told_.emplace_back(l.message);
        if (l.kind == JournalLine::Kind::kAppStartError) end_.start_errors_shown.push_back(l.app);
        return true;
      }
      if (!opts_.journal_has_app_output) return true;  // the relay has it
      out_->write(output_line(l, opts_.prefix_app_names));
      full = out_->full();
      return !full;
    });
    return full;
  }

  /// A writer that was full has room again.
  void output_has_room() {
    if (relay_ != nullptr) relay_->resume();
    if (journal_) print_new_entries();
  }

  static int on_journal(sd_event_source*, int, uint32_t, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    s->journal_->process();
    s->print_new_entries();
    return 0;
  }

  static int on_window_change(sd_event_source*, const signalfd_siginfo*, void* self) {
    static_cast<Supervisor*>(self)->opts_.on_window_change();
    return 0;
  }

  static int on_notify(sd_event_source*, int fd, uint32_t, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf - 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) return 0;
    // nspawn's word alone: the socket is root's, but any process of root's
    // could name another as the pod's init, which a stop kills.
    const cmsghdr* c = CMSG_FIRSTHDR(&msg);
    ucred sender{};
    if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS) return 0;
    std::memcpy(&sender, CMSG_DATA(c), sizeof sender);
    if (sender.pid != s->opts_.nspawn_pid) return 0;
    NspawnNotice notice = parse_nspawn_notice(std::string_view(buf, static_cast<size_t>(n)));
    if (notice.leader && s->leader_ <= 0) {
      s->leader_ = *notice.leader;
      s->leader_fd_ = open_pidfd(s->leader_);
      if (s->relay_ != nullptr) s->relay_->set_pod_leader(*notice.leader);
      if (s->opts_.on_leader) s->opts_.on_leader(*notice.leader);
    }
    if (notice.ready && !s->ready_) {
      s->ready_ = true;
      if (!s->opts_.pod_ending || !s->opts_.pod_ending()) {
        int f = ::open(s->opts_.ready_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (f >= 0) ::close(f);
        std::string ready = "READY=1";
        if (s->opts_.pod_status && std::getenv("NOTIFY_SOCKET") != nullptr)
          ready += "\nSTATUS=" + s->opts_.pod_status();
        sd_notify(0, ready.c_str());
      }
      s->hold_init_inotify_fds();  // once the pod's readiness is told
    }
    return 0;
  }

  static int on_starter(sd_event_source*, int, uint32_t, void* self) {
    static_cast<Supervisor*>(self)->pod_may_start();
    return 0;
  }

  static int on_starter_timer(sd_event_source* src, uint64_t, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    if (s->pod_can_halt()) {
      s->pod_may_start();
    } else if (sd_event_source_set_time_relative(src, 5000) < 0 ||
               sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) < 0) {
      s->starter_timer_ = sd_event_source_disable_unref(s->starter_timer_);  // the socket still works
    }
    return 0;
  }

  /// The pod takes an orderly stop now (a prepare-app connected, or its
  /// systemd blocks the signal): on_starter, once.
  void pod_may_start() noexcept {
    // Before the callback, which closes the socket.
    starter_ = sd_event_source_disable_unref(starter_);
    starter_timer_ = sd_event_source_disable_unref(starter_timer_);
    // A pod asked to stop does not start its apps.
    if (end_.stop_signal != 0 || !opts_.on_starter) return;
    try {
      opts_.on_starter();
    } catch (const std::exception& e) {
      end_.error = std::string("starting the pod's apps: ") + e.what();
      if (!nspawn_reaped_) stop_now();
    }
  }

  static int on_child(sd_event_source*, const siginfo_t* si, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    // sd-event has reaped nspawn already.
    s->end_.nspawn_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
    s->nspawn_reaped_ = true;
    return sd_event_exit(s->ev_, 0);
  }

  static int on_pod_dir(sd_event_source* src, const struct inotify_event* e, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    if ((e->mask & IN_DELETE) == 0 || e->len == 0 || s->opts_.pod_dir.filename() != e->name) return 0;
    sd_event_source_set_enabled(src, SD_EVENT_OFF);
    if (s->nspawn_reaped_) return 0;
    if (s->end_.error.empty())
      s->end_.error = "the pod's directory " + quote(s->opts_.pod_dir.string()) + " was deleted while the pod ran";
    s->request_stop(SIGTERM);
    return 0;
  }

  static int on_app_exit(sd_event_source*, const struct inotify_event*, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    // Only the status: STOPPING=1 would arm the unit's stop timeout (not
    // crt's to keep: the pod's end may wait for its journal) and have
    // systemd skip the unit's ExecStop= and take no stop job meanwhile.
    sd_notify(0, ("STATUS=" + s->opts_.pod_status()).c_str());
    return 0;
  }

  static int on_signal(sd_event_source*, const signalfd_siginfo* si, void* self) {
    static_cast<Supervisor*>(self)->request_stop(static_cast<int>(si->ssi_signo));
    return 0;
  }

  void request_stop(int sig) {
    if (end_.stop_signal == 0) {
      end_.stop_signal = sig;
      arm_stop_deadline();
      // A unit stopping crt (systemctl stop) waits for the pod's stop timeout
      // and crt's cleanup, whatever its own TimeoutStopSec= (crt@.service's
      // 30 s, with a longer --stop-timeout in CRT_RUN_ARGS).
      auto usec = std::chrono::duration_cast<std::chrono::microseconds>(opts_.stop_timeout + opts_.stop_cleanup);
      sd_notify(0, ("STOPPING=1\nEXTEND_TIMEOUT_USEC=" + std::to_string(usec.count())).c_str());
    }
    if (stop_pending_) {
      stop_now();  // asked again
    } else if (stop_asked_) {
      // nspawn turns a second SIGTERM into an immediate stop.
      end_.killed = true;
      ::kill(opts_.nspawn_pid, SIGTERM);
    } else if (pod_can_halt()) {
      forward_stop();
    } else {
      stop_pending_ = true;
      pending_since_ = now();
      arm_stop_timer();
    }
  }

  /// The pod's init (its systemd, ready: its inotify descriptors are made)
  /// would wait, as it ends, for the kernel to retire each of its inotify
  /// descriptors, and the rest of the pod with it: a child of crt's holds
  /// copies until crt is done with the pod, and their last close is there.
  void hold_init_inotify_fds() {
    if (leader_ <= 0) return;
    std::vector<UniqueFd> copies = copy_inotify_fds(leader_);
    std::vector<int> fds;
    for (const auto& c : copies) fds.push_back(c.get());
    // And the pod journal's, whose close would otherwise need a child of
    // its own at the pod's end (PodJournal).
    if (journal_fd_ >= 0) fds.push_back(journal_fd_);
    init_inotify_held_ = hold_in_child(fds);
    if (init_inotify_held_ && journal_fd_ >= 0) journal_->inotify_held_elsewhere();
  }  // crt's own copies close: the child has them

  /// nspawn turns a first SIGTERM into an orderly shutdown, which the pod's
  /// systemd does not take early in its boot (seen with a SIGTERM 60-120 ms
  /// after crt run started): the stop waits until it does.
  bool pod_can_halt() const { return leader_ > 0 && takes_orderly_stop(leader_); }

  void forward_stop() {
    stop_pending_ = false;
    stop_asked_ = true;
    // nspawn takes a second SIGTERM as a kill: one is sent, by crt stop or
    // by crt run, whichever holds the stop-requested file's lock and finds
    // none sent (a crt stop holds it while it stops the pod).
    if (!opts_.pod_dir.empty()) {
      (void)send_stop_once(opts_.pod_dir, [this] { return ::kill(opts_.nspawn_pid, SIGTERM) == 0; });
      return;
    }
    ::kill(opts_.nspawn_pid, SIGTERM);
  }

  /// What nspawn's immediate stop does: kills the pod's init (or, before
  /// there is one, nspawn).
  void stop_now() {
    stop_pending_ = false;
    stop_asked_ = true;
    end_.killed = true;
    // Through a pidfd: once nspawn has reaped it, its PID may be another's
    // (and nspawn is ending by itself).
    if (leader_fd_)
      (void)::syscall(SYS_pidfd_send_signal, leader_fd_.get(), SIGKILL, nullptr, 0);
    else
      ::kill(leader_ > 0 ? leader_ : opts_.nspawn_pid, SIGKILL);
  }

  void arm_stop_deadline() {
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(opts_.stop_timeout).count();
    if (sd_event_add_time_relative(ev_, nullptr, CLOCK_MONOTONIC, static_cast<uint64_t>(usec), 10000,
                                   &Guarded<&Supervisor::on_stop_deadline>::call, this) < 0)
      tell(opts_.messages, "warning: the pod's stop has no time limit: a second signal ends it at once");
  }

  static int on_stop_deadline(sd_event_source*, uint64_t, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    if (s->nspawn_reaped_) return 0;
    tell(s->opts_.messages, "the pod did not stop within " + pod::systemd_duration(s->opts_.stop_timeout) +
                                " (--stop-timeout); killing it");
    s->stop_now();
    return 0;
  }

  uint64_t now() const {
    uint64_t t = 0;
    sd_event_now(ev_, CLOCK_MONOTONIC, &t);
    return t;
  }

  void arm_stop_timer() {
    if (sd_event_add_time_relative(ev_, nullptr, CLOCK_MONOTONIC, 20000, 1000,
                                   &Guarded<&Supervisor::on_stop_timer>::call, this) < 0)
      forward_stop();
  }

  static int on_stop_timer(sd_event_source*, uint64_t, void* self) {
    auto* s = static_cast<Supervisor*>(self);
    if (!s->stop_pending_) return 0;
    if (s->pod_can_halt())
      s->forward_stop();
    else if (s->now() - s->pending_since_ > 10'000'000)
      s->stop_now();  // its systemd never listened in 10 s
    else
      s->arm_stop_timer();
    return 0;
  }

  /// sd-event calls C functions: each callback of ours goes through call(),
  /// which keeps what it throws and ends the loop, for run() to stop the
  /// pod and rethrow it.
  template <auto F>
  struct Guarded;
  template <typename... Args, int (*F)(Args...)>
  struct Guarded<F> {
    static int call(Args... args) noexcept {
      // Each callback's last argument is its Supervisor.
      auto* s = static_cast<Supervisor*>(std::get<sizeof...(Args) - 1>(std::tie(args...)));
      try {
        return F(args...);
      } catch (...) {
        if (!s->error_) s->error_ = std::current_exception();
        return sd_event_exit(s->ev_, -ECANCELED);
      }
    }
  };

  const SuperviseOptions& opts_;
  sd_event* ev_ = nullptr;  ///< the loop run() owns
  std::exception_ptr error_;  ///< what a callback threw
  /// While open, a child holds the init's inotify fds and the journal's:
  /// closed after the journal (declared before it).
  UniqueFd init_inotify_held_;
  std::unique_ptr<PodJournal> journal_;
  int journal_fd_ = -1;           ///< its inotify fd
  OutputWriter* out_ = nullptr;   ///< crt's stdout, while run() runs
  StdioRelay* relay_ = nullptr;   ///< while run() has one
  bool nspawn_reaped_ = false;  ///< its PID may be another process's now
  PodEnd end_;
  std::vector<std::string> errors_told_;  ///< the pod's error lines shown so far
  bool ready_ = false;
  pid_t leader_ = 0;  ///< the pod's init, once nspawn reported it
  UniqueFd leader_fd_;         ///< its pidfd
  bool stop_pending_ = false;  ///< asked to stop before the pod's systemd could
  bool stop_asked_ = false;    ///< nspawn has had its SIGTERM
  uint64_t pending_since_ = 0;
  sd_event_source* starter_ = nullptr;
  sd_event_source* starter_timer_ = nullptr;
};

}  // namespace

NspawnNotice parse_nspawn_notice(std::string_view msg) {
  NspawnNotice n;
  while (!msg.empty()) {
    size_t end = msg.find('\n');
    std::string_view line = msg.substr(0, end);
    msg = end == std::string_view::npos ? std::string_view() : msg.substr(end + 1);
    if (line == "READY=1") n.ready = true;
    constexpr std::string_view kLeader = "X_NSPAWN_LEADER_PID=";
    if (line.substr(0, kLeader.size()) == kLeader) {
      std::string_view v = line.substr(kLeader.size());
      pid_t pid = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), pid);
      if (ec == std::errc() && p == v.data() + v.size() && pid > 0) n.leader = pid;
    }
  }
  return n;
}

PodEnd supervise(const SuperviseOptions& opts) { return Supervisor(opts).run(); }

void tell_pod_end(const std::string& status, bool started) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
  sd_notify(0, ((started ? "READY=1\n" : "") + ("STATUS=" + status)).c_str());
  // Before crt's exit, which systemd may otherwise see first.
  sd_notify_barrier(0, 5 * 1000000ULL);
}

}  // namespace crt::runtime
