#include "runtime/stdio_relay.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace crt::runtime {

namespace {

constexpr size_t kChunk = 64 * 1024;

bool transient(int err) { return err == EAGAIN || err == EINTR; }

}  // namespace

struct StdioRelay::Impl {
  enum Stream { kIn, kOut, kErr };

  struct Listener {
    Impl* impl;
    Stream stream;
    int fd;
    sd_event_source* src = nullptr;
  };

  /// A connection of the app's stdout or stderr, copied to crt's.
  struct Output {
    Impl* impl;
    UniqueFd conn;
    OutputWriter* to;
    sd_event_source* src = nullptr;
    bool paused = false;  ///< while `to` is full
  };

  Impl(sd_event* ev, StdioSockets l, UserStdio user, MessageSink messages)
      : ev_(ev),
        messages_(std::move(messages)),
        user_(user),
        listeners_{Listener{this, kIn, l.in}, Listener{this, kOut, l.out}, Listener{this, kErr, l.err}} {
    for (auto& li : listeners_) {
      if (int r = sd_event_add_io(ev_, &li.src, li.fd, EPOLLIN, &Impl::on_accept, &li); r < 0) {
        release();
        throw_errno(-r, "watching the app's stdio sockets");
      }
    }
  }

  ~Impl() { release(); }

  void release() {
    for (auto& li : listeners_) li.src = sd_event_source_disable_unref(li.src);
    for (auto& o : outputs_) o->src = sd_event_source_disable_unref(o->src);
    in_read_ = sd_event_source_disable_unref(in_read_);
    in_write_ = sd_event_source_disable_unref(in_write_);
  }

  void warn(const std::string& what) { tell(messages_, "warning: " + what); }

  static int on_accept(sd_event_source*, int, uint32_t, void* data) {
    auto* li = static_cast<Listener*>(data);
    try {
      li->impl->accept_on(*li);
    } catch (const std::exception& e) {
      li->impl->warn(std::string("relaying the app's stdio: ") + e.what());
    }
    return 0;
  }

  /// Takes a connection from `li`'s queue; false when there is none.
  bool accept_on(Listener& li) {
    pollfd p{li.fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;  // the listener may block
    UniqueFd conn(::accept4(li.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!conn) {
      if (transient(errno) || errno == ECONNABORTED) return false;
      // Out of fds, say: the listener would wake the loop for ever.
      warn(std::string("no longer taking the app's stdio connections: ") + std::strerror(errno));
      li.src = sd_event_source_disable_unref(li.src);
      return false;
    }
    if (li.stream == kIn)
      attach_stdin(std::move(conn));
    else
      add_output(std::move(conn), li.stream == kOut ? user_.out : user_.err);
    return true;
  }

  // --- the app's stdout and stderr -------------------------------------------

  void add_output(UniqueFd conn, OutputWriter* to) {
    auto o = std::make_unique<Output>(Output{this, std::move(conn), to});
    if (int r = sd_event_add_io(ev_, &o->src, o->conn.get(), EPOLLIN, &Impl::on_output, o.get()); r < 0) {
      warn("dropping the app's output: " + std::string(std::strerror(-r)));
      return;
    }
    outputs_.push_back(std::move(o));
  }

  static int on_output(sd_event_source*, int, uint32_t, void* data) {
    auto* o = static_cast<Output*>(data);
    if (!o->impl->copy_output(*o)) o->impl->remove_output(o);
    return 0;
  }

  /// Copies one chunk, then pauses while the writer is full; false once
  /// the app's end is closed.
  bool copy_output(Output& o) {
    char chunk[kChunk];
    ssize_t n = ::read(o.conn.get(), chunk, sizeof chunk);
    if (n < 0) return transient(errno);
    if (n == 0) return false;
    o.to->write({chunk, static_cast<size_t>(n)});
    if (o.to->full()) {
      o.paused = true;
      sd_event_source_set_enabled(o.src, SD_EVENT_OFF);
    }
    return true;
  }

  void resume() {
    for (auto& o : outputs_)
      if (o->paused && !o->to->full()) {
        o->paused = false;
        sd_event_source_set_enabled(o->src, SD_EVENT_ON);
      }
  }

  void remove_output(Output* o) {
    sd_event_source_disable_unref(o->src);
    outputs_.erase(std::find_if(outputs_.begin(), outputs_.end(), [o](const auto& p) { return p.get() == o; }));
  }

  void drain() {
    // Connections of an app that was restarted at the very end, too.
    for (auto& li : listeners_)
      if (li.stream != kIn && li.src != nullptr)
        while (accept_on(li)) {
        }
    for (auto& o : outputs_) {
      char chunk[kChunk];
      for (;;) {
        ssize_t n = ::read(o->conn.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        o->to->wait_for_room();
        o->to->write({chunk, static_cast<size_t>(n)});
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
    static_cast<Impl*>(self)->read_stdin();
    return 0;
  }

  static int on_stdin_defer(sd_event_source*, void* self) {
    static_cast<Impl*>(self)->read_stdin();
    return 0;
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
    s->flush_stdin();
    s->update_stdin();
    return 0;
  }

  void flush_stdin() {
    while (in_conn_ && pending() > 0) {
      ssize_t n = ::send(in_conn_.get(), buf_.data() + buf_off_, pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
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
  std::array<Listener, 3> listeners_;
  std::vector<std::unique_ptr<Output>> outputs_;
  UniqueFd in_conn_;                     ///< the app's stdin
  sd_event_source* in_read_ = nullptr;   ///< crt's stdin readable (or a defer source)
  sd_event_source* in_write_ = nullptr;  ///< in_conn_ writable
  std::vector<char> buf_ = std::vector<char>(kChunk);
  size_t buf_off_ = 0;
  size_t buf_len_ = 0;
  bool stdin_eof_ = false;
};

StdioRelay::StdioRelay(sd_event* ev, StdioSockets listening, UserStdio user, MessageSink messages)
    : impl_(std::make_unique<Impl>(ev, listening, user, std::move(messages))) {}

StdioRelay::~StdioRelay() = default;

void StdioRelay::resume() noexcept { impl_->resume(); }

void StdioRelay::drain() noexcept { impl_->drain(); }

}  // namespace crt::runtime
