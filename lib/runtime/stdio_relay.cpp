#include "runtime/stdio_relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fd_passing.hpp"
#include "pod/terminal_mark.hpp"
#include "runtime/journal_stream.hpp"
#include "runtime/pod_journal.hpp"

namespace crt::runtime {

namespace {

constexpr size_t kChunk = 64 * 1024;
/// An app's output that waits for its journald: from here on, the app
/// waits too. About what journald's stream socket holds when an app writes
/// to it itself: a pod that stops gives up as much.
constexpr size_t kJournalLimit = 256 * 1024;
/// A line longer than this is shown in pieces (a pod of several apps).
constexpr size_t kLineMax = 64 * 1024;

bool transient(int err) { return err == EAGAIN || err == EINTR; }

}  // namespace

struct StdioRelay::Impl {
  enum class Kind { kIn, kOut, kFlush };

  struct Listener {
    Impl* impl;
    Kind kind;
    int fd;
    const OutputSocket* output = nullptr;  ///< for kOut
    sd_event_source* src = nullptr;
  };

  /// A connection of an app's stdout or stderr, copied to crt's and to the
  /// pod's journal.
  struct Output {
    Impl* impl = nullptr;
    const OutputSocket* socket = nullptr;
    UniqueFd conn;
    OutputWriter* to = nullptr;
    sd_event_source* src = nullptr;
    bool paused = false;  ///< while `to` is full, or the journal behind
    bool eof = false;     ///< the app's end is closed
    std::string partial;  ///< the start of a line (with app names)
    bool cut = false;     ///< a line too long was shown in pieces, its newline not yet read
    /// Who journald is told wrote the copy: the app's process that
    /// connected (on a terminal: the app's main process, looked up in its
    /// cgroup, StdioSockets::terminal_sender), then the unit's flush
    /// request; pid 0 while there is none.
    JournalSender sender;
    bool sender_gone = false;  ///< the app's process ended before all was sent as its
    UniqueFd journal;     ///< the copy's stream, once there is output
    bool journal_failed = false;
    bool flushed = false;  ///< the app has ended: its last line goes as it is
    bool journal_cut = false;  ///< some output was left out of the copy
    bool terminal = false;     ///< crt's pty (StdioSockets::terminal)
    pod::TerminalMarks marks;  ///< app-exited's, taken out of a terminal's output
    std::string journal_pending;  ///< not yet taken by journald
    size_t journal_whole = 0;     ///< whole_send_size() of `journal`
    size_t journal_off = 0;
    sd_event_source* journal_src = nullptr;  ///< journal writable
  };

  /// app-exited asking for an app's output to be in the journal.
  struct FlushRequest {
    Impl* impl = nullptr;
    UniqueFd conn;
    std::string text;  ///< "APP\n" or "APP TOKEN\n" as it arrives
    std::string app;   ///< once complete
    /// The token of the mark app-exited wrote to the app's terminal after
    /// the app had ended (pod::terminal_mark()), until crt has read it.
    std::string mark;
    sd_event_source* src = nullptr;
  };

  Impl(sd_event* ev, StdioSockets l, UserStdio user, MessageSink messages)
      : ev_(ev), messages_(std::move(messages)), user_(user), sockets_(std::move(l)) {
    if (sockets_.in >= 0) listeners_.push_back(Listener{this, Kind::kIn, sockets_.in});
    for (const auto& o : sockets_.outputs) listeners_.push_back(Listener{this, Kind::kOut, o.fd, &o});
    if (sockets_.flush >= 0) listeners_.push_back(Listener{this, Kind::kFlush, sockets_.flush});
    for (auto& li : listeners_) {
      if (int r = sd_event_add_io(ev_, &li.src, li.fd, EPOLLIN, &Impl::on_accept, &li); r < 0) {
        release();
        throw_errno(-r, "watching the apps' stdio sockets");
      }
    }
    if (sockets_.terminal >= 0) attach_terminal();
  }

  /// crt's pty: read as the app's output, written with crt's stdin. Each
  /// direction has an fd of its own, as the loop watches each fd once.
  void attach_terminal() {
    terminal_socket_ = OutputSocket{-1, sockets_.terminal_app, false, sockets_.terminal_uid, sockets_.terminal_gid};
    auto dup = [this] {
      UniqueFd fd(::fcntl(sockets_.terminal, F_DUPFD_CLOEXEC, 3));
      if (!fd) {
        release();
        throw_errno("duplicating the app's pseudo-terminal");
      }
      return fd;
    };
    Output* o = add_output(dup(), terminal_socket_);
    if (o == nullptr) {
      release();
      throw Error("the app's terminal cannot be relayed");  // nspawn would block on it
    }
    o->terminal = true;
    in_is_terminal_ = true;
    attach_stdin(dup());
  }

  ~Impl() { release(); }

  void release() {
    for (auto& li : listeners_) li.src = sd_event_source_disable_unref(li.src);
    for (auto& o : outputs_) {
      o->src = sd_event_source_disable_unref(o->src);
      o->journal_src = sd_event_source_disable_unref(o->journal_src);
    }
    for (auto& f : flushes_) f->src = sd_event_source_disable_unref(f->src);
    in_read_ = sd_event_source_disable_unref(in_read_);
    in_write_ = sd_event_source_disable_unref(in_write_);
  }

  void warn(const std::string& what) { tell(messages_, "warning: " + what); }

  /// sd-event's callbacks are C: what `body` throws (out of memory, say)
  /// may not cross it. It is told, and the relay goes on.
  template <typename Body>
  static int guarded(Impl* impl, Body&& body) noexcept {
    try {
      body();
    } catch (const std::exception& e) {
      impl->warn(std::string("relaying the apps' stdio: ") + e.what());
    }
    return 0;
  }

  static int on_accept(sd_event_source*, int, uint32_t, void* data) {
    auto* li = static_cast<Listener*>(data);
    return guarded(li->impl, [&] { li->impl->accept_on(*li); });
  }

  /// Takes a connection from `li`'s queue; false when there is none.
  bool accept_on(Listener& li) {
    pollfd p{li.fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;  // the listener may block
    UniqueFd conn(::accept4(li.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!conn) {
      if (transient(errno) || errno == ECONNABORTED) return false;
      // Out of fds, say: the listener would wake the loop for ever.
      warn(std::string("no longer taking the apps' stdio connections: ") + std::strerror(errno));
      li.src = sd_event_source_disable_unref(li.src);
      return false;
    }
    switch (li.kind) {
      case Kind::kIn: attach_stdin(std::move(conn)); break;
      case Kind::kOut:
        if (Output* o = add_output(std::move(conn), *li.output); o != nullptr && sockets_.on_output)
          sockets_.on_output(o->conn.get(), *li.output);
        break;
      case Kind::kFlush: add_flush_request(std::move(conn)); break;
    }
    return true;
  }

  // --- the apps' stdout and stderr -------------------------------------------

  /// The new output, or nullptr when the loop cannot watch it.
  Output* add_output(UniqueFd conn, const OutputSocket& socket) {
    auto o = std::make_unique<Output>();
    o->impl = this;
    o->socket = &socket;
    o->conn = std::move(conn);
    o->to = socket.is_stderr ? user_.err : user_.out;
    set_sender(*o, peer_pid(o->conn.get()));
    if (int r = sd_event_add_io(ev_, &o->src, o->conn.get(), EPOLLIN, &Impl::on_output, o.get()); r < 0) {
      warn("dropping the output of app " + quote(socket.app) + ": " + std::strerror(-r));
      return nullptr;
    }
    outputs_.push_back(std::move(o));
    return outputs_.back().get();
  }

  static int on_output(sd_event_source*, int, uint32_t, void* data) {
    auto* o = static_cast<Output*>(data);
    Impl* impl = o->impl;  // settle() may remove `o`
    return guarded(impl, [&] {
      impl->read_output(*o);
      impl->settle(o);
      impl->answer_flush_requests();
    });
  }

  /// Reads one chunk of `o` and passes it on; false when there was none.
  bool read_output(Output& o) {
    char chunk[kChunk];
    ssize_t n = ::read(o.conn.get(), chunk, sizeof chunk);
    if (n < 0 && transient(errno)) return false;
    if (n <= 0) {
      end_output(o);
      return false;
    }
    std::string_view data(chunk, static_cast<size_t>(n));
    std::string unmarked;
    if (o.terminal) data = unmarked = o.marks.take(data);
    show(o, data);
    copy_to_journal(o, data);
    return true;
  }

  /// Passes what `o`'s app wrote on to crt's stdout or stderr.
  void show(Output& o, std::string_view data) {
    if (!sockets_.prefix_app_names) {
      o.to->write(data);
      return;
    }
    std::string lines;
    while (!data.empty()) {
      size_t nl = data.find('\n');
      if (nl == 0 && o.partial.empty() && o.cut) {
        // The end of a line shown in pieces: no empty line for it.
        data.remove_prefix(1);
        o.cut = false;
        continue;
      }
      // A line of more than kLineMax goes in pieces of kLineMax, wherever
      // the reads of it end.
      size_t room = kLineMax - o.partial.size();
      if (nl == std::string_view::npos || nl > room) {
        if (data.size() < room) {
          o.partial.append(data);
          break;
        }
        o.partial.append(data.substr(0, room));
        data.remove_prefix(room);
        o.cut = true;
      } else {
        o.partial.append(data.substr(0, nl));
        data.remove_prefix(nl + 1);
        o.cut = false;
      }
      lines += app_line(o.socket->app, o.partial);
      o.partial.clear();
    }
    if (!lines.empty()) o.to->write(lines);
  }

  /// The app's end of `o` is closed: what is left of a line is shown, and
  /// `o` goes once its journal copy is out.
  void end_output(Output& o) {
    if (std::string rest = o.marks.release(); !rest.empty()) {
      show(o, rest);
      copy_to_journal(o, rest);
    }
    o.eof = true;
    o.src = sd_event_source_disable_unref(o.src);
    if (!o.partial.empty()) {
      o.to->write(app_line(o.socket->app, o.partial));
      o.partial.clear();
    }
    write_journal(o);  // a last line without its newline too
  }

  /// Pauses or resumes reading `o`, or removes it once it has ended and its
  /// journal copy is out.
  void settle(Output* o) {
    if (o->eof && journal_done(*o)) {
      remove_output(o);
    } else if (!o->eof) {
      // Once the app has ended, what is left of its output is read whether
      // or not the writer is full: there is no more of it (on a terminal:
      // up to app-exited's mark).
      bool pause = (o->to->full() && !o->flushed) || journal_behind(*o);
      if (pause != o->paused) {
        o->paused = pause;
        sd_event_source_set_enabled(o->src, pause ? SD_EVENT_OFF : SD_EVENT_ON);
      }
    }
  }

  /// journald is behind with `o`'s copy: the app is to wait for it. Not
  /// while there is no one to send it as (see write_journal()) before the
  /// app's process was known: the app would wait for a flush request that
  /// comes only once it has ended. Once its process has gone, what is left
  /// in its socket waits for the unit's flush request, which takes it all
  /// (flush_app()), or, if none comes, for the end, which shows it
  /// (drain()), instead of being left out of the copy; only stray
  /// processes of the unit wait meanwhile, and its stop ends them. Not on a
  /// terminal, which the pod's own words and app-exited's mark go through.
  bool journal_behind(const Output& o) const {
    bool waits_for_flush = o.sender_gone && !o.flushed && !o.terminal;
    return (o.sender.pid > 0 || waits_for_flush) && o.journal_pending.size() - o.journal_off > kJournalLimit;
  }

  void resume() {
    // settle() may remove outputs; none is removed on resuming.
    for (auto& o : outputs_)
      if (o->paused && !o->eof && !o->to->full() && !journal_behind(*o)) {
        o->paused = false;
        sd_event_source_set_enabled(o->src, SD_EVENT_ON);
      }
  }

  void remove_output(Output* o) {
    sd_event_source_disable_unref(o->src);
    sd_event_source_disable_unref(o->journal_src);
    outputs_.erase(std::find_if(outputs_.begin(), outputs_.end(), [o](const auto& p) { return p.get() == o; }));
  }

  // --- the copy in the pod's journal -----------------------------------------

  bool journal_done(const Output& o) const { return o.journal_off == o.journal_pending.size(); }


  void copy_to_journal(Output& o, std::string_view data) {
    if (!sockets_.to_journal || o.journal_failed) return;
    if (o.terminal && !claim_terminal_output(o)) return;
    if (!o.journal) {
      // Opened with the first output: an app that writes nothing costs no
      // stream (and no fork).
      try {
        if (leader_ <= 0) throw Error("the pod's init is not known");
        o.journal = open_journal_stream(leader_);
        o.journal_whole = whole_send_size(o.journal.get());
        send_journal_stream_header(o.journal.get(), o.socket->app, leader_);
        if (int r = sd_event_add_io(ev_, &o.journal_src, o.journal.get(), EPOLLOUT, &Impl::on_journal_writable, &o); r < 0)
          throw_errno(-r, "watching the pod's journal stream");
        sd_event_source_set_enabled(o.journal_src, SD_EVENT_OFF);
      } catch (const std::exception& e) {
        journal_failed(o);
        // A pod being killed has no journal to reach (the app's last words,
        // "Terminated" from its shell, come as its journald dies): the
        // output went to crt's all the same.
        if (!sockets_.pod_killed || !sockets_.pod_killed())
          warn("the output of app " + quote(o.socket->app) + " does not reach the pod's journal: " + e.what());
        return;
      }
    }
    if (o.sender.pid <= 0 && o.journal_pending.size() - o.journal_off > kJournalLimit) {
      // Nobody to send it as, and more than a flush request could bring
      // in: what follows is the user's alone.
      if (!o.journal_cut) warn("output of app " + quote(o.socket->app) + " after its process ended is not all in the pod's journal");
      o.journal_cut = true;
      return;
    }
    size_t from = o.journal_pending.size();
    o.journal_pending.append(data);
    // A terminal ends its lines in "\r\n": the journal's end in "\n" alone
    // (journalctl shows a line with a "\r" as binary data).
    if (o.terminal) drop_carriage_returns(o.journal_pending, std::max(o.journal_off, from > 0 ? from - 1 : 0));
    write_journal(o);
  }

  /// Whether what the terminal shows now is the app's, for its journal
  /// copy; finds who wrote it (Output::sender) if no one is known: the
  /// app's process of the moment (a restarted app's new one too, whose
  /// output is no longer a last word). Before the app, the console has only
  /// the pod's own words (nspawn's and its systemd's with --debug, keys
  /// typed during the boot), and journald may not even listen yet: the
  /// app's unit starts after journald's socket.
  bool claim_terminal_output(Output& o) {
    if (leader_ <= 0) return false;
    if (o.sender.pid <= 0 && sockets_.terminal_sender)
      if (pid_t app = sockets_.terminal_sender(); app > 0) {
        set_sender(o, app);
        o.flushed = false;
      }
    // Once the copy has begun, what has no writer waits for the flush.
    return o.journal.valid() || o.sender.pid > 0;
  }

  /// `o`'s output is now sent as `pid`'s: a process of the app's unit (the
  /// app's, or its stop command's for what is left once it has ended), with
  /// the app's user and group.
  static void set_sender(Output& o, pid_t pid) { o.sender = JournalSender{pid, o.socket->uid, o.socket->gid}; }

  /// Removes each "\r" before a "\n" in `s` from `from` on.
  static void drop_carriage_returns(std::string& s, size_t from) {
    size_t out = from;
    for (size_t i = from; i < s.size(); ++i) {
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
      s[out++] = s[i];
    }
    s.resize(out);
  }

  static int on_journal_writable(sd_event_source*, int, uint32_t, void* data) {
    auto* o = static_cast<Output*>(data);
    Impl* impl = o->impl;  // settle() may remove `o`
    return guarded(impl, [&] {
      impl->write_journal(*o);
      impl->settle(o);  // resumes reading it, or removes it
      impl->answer_flush_requests();
    });
  }

  /// Where what journald may take now ends: a line that is not complete
  /// waits for its end while its writer may still change (journald ends a
  /// line where the writer of a stream changes: the app's process ending
  /// before its last line is out, seen with a 200 KB line under load), up
  /// to kJournalLimit, where the app is made to wait for journald anyway.
  size_t journal_sendable(const Output& o) const {
    size_t end = o.journal_pending.size();
    if (o.eof || o.flushed) return end;
    size_t nl = o.journal_pending.rfind('\n');
    size_t complete = nl == std::string::npos || nl < o.journal_off ? o.journal_off : nl + 1;
    return end - complete < kJournalLimit ? complete : end;
  }

  /// Gives journald what it takes now; watches for room if not all.
  void write_journal(Output& o) {
    if (!o.journal) return;
    size_t end = journal_sendable(o);
    while (o.journal_off < end) {
      // The app's process has gone: what is left waits for the unit's
      // flush request, which journald can take it from.
      if (o.sender.pid <= 0) break;
      std::string_view rest(o.journal_pending);
      ssize_t n = send_as(o.journal.get(), next_send(rest.substr(o.journal_off, end - o.journal_off), o.journal_whole),
                          o.sender);
      if (n > 0) {
        o.journal_off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        sd_event_source_set_enabled(o.journal_src, SD_EVENT_ON);
        break;
      } else if (n < 0 && errno == ESRCH) {
        o.sender.pid = 0;
        o.sender_gone = true;
      } else {
        // journald went away: the pod is ending.
        journal_failed(o);
        return;
      }
    }
    bool behind = o.journal_off < end && o.sender.pid > 0;  // watched for room
    // What journald took goes.
    if (journal_done(o)) {
      o.journal_pending.clear();
      o.journal_off = 0;
    } else if (o.journal_off >= kChunk) {
      o.journal_pending.erase(0, o.journal_off);
      o.journal_off = 0;
    }
    if (behind) return;
    sd_event_source_set_enabled(o.journal_src, SD_EVENT_OFF);
    // journald writes a last line without a newline when its stream ends.
    if (o.eof && journal_done(o)) o.journal = UniqueFd();
  }

  void journal_failed(Output& o) {
    o.journal_failed = true;
    o.journal_src = sd_event_source_disable_unref(o.journal_src);
    o.journal = UniqueFd();
    o.journal_pending.clear();
    o.journal_off = 0;
  }

  // --- app-exited's flush requests -------------------------------------------

  void add_flush_request(UniqueFd conn) {
    auto f = std::make_unique<FlushRequest>();
    f->impl = this;
    f->conn = std::move(conn);
    if (sd_event_add_io(ev_, &f->src, f->conn.get(), EPOLLIN, &Impl::on_flush_request, f.get()) < 0) return;
    flushes_.push_back(std::move(f));
  }

  static int on_flush_request(sd_event_source*, int, uint32_t, void* data) {
    auto* f = static_cast<FlushRequest*>(data);
    return guarded(f->impl, [&] { f->impl->read_flush_request(*f); });
  }

  void read_flush_request(FlushRequest& f) {
    char buf[128];
    ssize_t n = ::read(f.conn.get(), buf, sizeof buf);
    if (n < 0 && transient(errno)) return;
    if (n <= 0) {
      remove_flush_request(&f);  // app-exited gave up waiting
      return;
    }
    if (!f.app.empty()) return;  // one request per connection
    f.text.append(buf, static_cast<size_t>(n));
    size_t nl = f.text.find('\n');
    if (nl == std::string::npos) {
      if (f.text.size() > 256) remove_flush_request(&f);  // not a request
      return;
    }
    std::string line = f.text.substr(0, nl);
    size_t space = line.find(' ');
    f.app = line.substr(0, space);
    if (space != std::string::npos) f.mark = line.substr(space + 1);
    flush_app(f.app, peer_pid(f.conn.get()));
    answer_flush_requests();
  }

  /// The app has ended: all it wrote is in its sockets' buffers (or still
  /// in the listeners' queues). It is read now, whether or not crt's
  /// writers are full: there is no more of it. Its journal copy goes on as
  /// written by `requester`, a process of the app's unit (ExecStopPost=).
  /// On a terminal, the rest may still be on its way through nspawn: the
  /// loop reads it up to app-exited's mark.
  void flush_app(std::string app, pid_t requester) {
    for (auto& li : listeners_)
      if (li.kind == Kind::kOut && li.output->app == app && li.src != nullptr)
        while (accept_on(li)) {
        }
    std::vector<Output*> of_app;
    for (auto& o : outputs_)
      if (o->socket->app == app) of_app.push_back(o.get());
    for (Output* o : of_app) {
      set_sender(*o, requester);
      o->flushed = true;
      write_journal(*o);
      while (!o->eof && read_output(*o)) {
      }
      settle(o);  // removes it, or resumes it if it stays open
    }
  }

  /// Whether `f`'s mark, if any, has come through the app's terminal (or
  /// never can: the terminal has ended).
  bool mark_read(FlushRequest& f) {
    if (f.mark.empty()) return true;
    for (auto& o : outputs_)
      if (o->terminal && o->socket->app == f.app && !o->eof && !o->marks.seen(f.mark)) return false;
    f.mark.clear();
    return true;
  }

  /// Answers each request whose app's output is all in its journal (or
  /// cannot get there).
  void answer_flush_requests() {
    for (size_t i = 0; i < flushes_.size();) {
      FlushRequest* f = flushes_[i].get();
      bool done = !f->app.empty() && mark_read(*f) &&
                  std::none_of(outputs_.begin(), outputs_.end(),
                               [&](const auto& o) { return o->socket->app == f->app && !journal_done(*o); });
      if (!done) {
        ++i;
        continue;
      }
      (void)::send(f->conn.get(), "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      remove_flush_request(f);
    }
  }

  void remove_flush_request(FlushRequest* f) {
    sd_event_source_disable_unref(f->src);
    flushes_.erase(std::find_if(flushes_.begin(), flushes_.end(), [f](const auto& p) { return p.get() == f; }));
  }

  // --- the end ---------------------------------------------------------------

  void drain() {
    // Connections of an app that was restarted at the very end, too.
    for (auto& li : listeners_)
      if (li.kind == Kind::kOut && li.src != nullptr)
        while (accept_on(li)) {
        }
    for (auto& o : outputs_) {
      char chunk[kChunk];
      while (!o->eof) {
        ssize_t n = ::read(o->conn.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          end_output(*o);
          break;
        }
        o->to->wait_for_room();
        std::string_view data(chunk, static_cast<size_t>(n));
        std::string unmarked;
        if (o->terminal) data = unmarked = o->marks.take(data);
        show(*o, data);
      }
    }
  }

  // --- crt's stdin -----------------------------------------------------------

  void attach_stdin(UniqueFd conn) {
    in_write_ = sd_event_source_disable_unref(in_write_);
    in_conn_ = std::move(conn);
    if (int r = sd_event_add_io(ev_, &in_write_, in_conn_.get(), EPOLLOUT, &Impl::on_stdin_writable, this); r < 0) {
      warn("the app gets no stdin: " + std::string(std::strerror(-r)));
      in_conn_ = UniqueFd();
      return;
    }
    if (!stdin_eof_ && in_read_ == nullptr) watch_stdin();
    if (stdin_eof_ && pending() == 0) ::shutdown(in_conn_.get(), SHUT_WR);
    update_stdin();
  }

  /// crt's stdin, unless epoll cannot watch it (a regular file, /dev/null):
  /// then it is read whenever the app's connection takes more.
  void watch_stdin() {
    int r = sd_event_add_io(ev_, &in_read_, user_.in, EPOLLIN, &Impl::on_stdin_readable, this);
    if (r == -EPERM) r = sd_event_add_defer(ev_, &in_read_, &Impl::on_stdin_defer, this);
    if (r < 0) stdin_eof_ = true;  // no stdin at all (closed)
  }

  size_t pending() const { return buf_len_ - buf_off_; }

  void update_stdin() {
    if (in_read_ != nullptr)
      sd_event_source_set_enabled(in_read_, in_conn_ && pending() == 0 && !stdin_eof_ ? SD_EVENT_ON : SD_EVENT_OFF);
    if (in_write_ != nullptr) sd_event_source_set_enabled(in_write_, in_conn_ && pending() > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
  }

  static int on_stdin_readable(sd_event_source*, int, uint32_t, void* self) {
    auto* s = static_cast<Impl*>(self);
    return guarded(s, [&] { s->read_stdin(); });
  }

  static int on_stdin_defer(sd_event_source*, void* self) {
    auto* s = static_cast<Impl*>(self);
    return guarded(s, [&] { s->read_stdin(); });
  }

  void read_stdin() {
    ssize_t n = ::read(user_.in, buf_.data(), buf_.size());
    if (n < 0 && transient(errno)) return;
    if (n > 0) {
      buf_off_ = 0;
      buf_len_ = static_cast<size_t>(n);
      flush_stdin();
    } else {
      // End of file, or an error that ends the input all the same.
      stdin_eof_ = true;
      in_read_ = sd_event_source_disable_unref(in_read_);
      if (in_conn_) ::shutdown(in_conn_.get(), SHUT_WR);
    }
    update_stdin();
  }

  static int on_stdin_writable(sd_event_source*, int, uint32_t, void* self) {
    auto* s = static_cast<Impl*>(self);
    return guarded(s, [&] {
      s->flush_stdin();
      s->update_stdin();
    });
  }

  void flush_stdin() {
    while (in_conn_ && pending() > 0) {
      ssize_t n = in_is_terminal_
                      ? ::write(in_conn_.get(), buf_.data() + buf_off_, pending())
                      : ::send(in_conn_.get(), buf_.data() + buf_off_, pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        buf_off_ += static_cast<size_t>(n);
      } else if (n < 0 && transient(errno)) {
        if (errno == EAGAIN) return;
      } else {
        // The app closed its stdin or ended. What it was sent and did not
        // read is lost; what it was not sent waits for a restarted app.
        in_write_ = sd_event_source_disable_unref(in_write_);
        in_conn_ = UniqueFd();
        return;
      }
    }
    if (in_conn_ && stdin_eof_) ::shutdown(in_conn_.get(), SHUT_WR);
  }

  sd_event* ev_;
  MessageSink messages_;
  UserStdio user_;
  StdioSockets sockets_;
  std::vector<Listener> listeners_;  ///< their addresses are the loop's
  std::vector<std::unique_ptr<Output>> outputs_;
  std::vector<std::unique_ptr<FlushRequest>> flushes_;
  pid_t leader_ = 0;
  OutputSocket terminal_socket_;         ///< names crt's pty's output
  bool in_is_terminal_ = false;          ///< in_conn_ is crt's pty (write(), not send())
  UniqueFd in_conn_;                     ///< the app's stdin
  sd_event_source* in_read_ = nullptr;   ///< crt's stdin readable (or a defer source)
  sd_event_source* in_write_ = nullptr;  ///< in_conn_ writable
  std::vector<char> buf_ = std::vector<char>(kChunk);
  size_t buf_off_ = 0;
  size_t buf_len_ = 0;
  bool stdin_eof_ = false;
};

StdioRelay::StdioRelay(sd_event* ev, StdioSockets listening, UserStdio user, MessageSink messages)
    : impl_(std::make_unique<Impl>(ev, std::move(listening), user, std::move(messages))) {}

StdioRelay::~StdioRelay() = default;

void StdioRelay::set_pod_leader(pid_t leader) noexcept { impl_->leader_ = leader; }

void StdioRelay::resume() noexcept { impl_->resume(); }

void StdioRelay::drain() noexcept { impl_->drain(); }

}  // namespace crt::runtime
