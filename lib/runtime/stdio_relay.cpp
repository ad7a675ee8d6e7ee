#include "runtime/stdio_relay.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace crt::runtime {

namespace {

constexpr size_t kChunk = 64 * 1024;

/// Writes all of `data` to `fd` (crt's stdout or stderr, which may be
/// non-blocking); false if it fails, with errno set.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      return false;
    }
  }
  return true;
}

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
    int to;
    sd_event_source* src = nullptr;
  };

  Impl(sd_event* e, StdioSockets l, std::function<void()> gone, UserStdio u)
      : ev(e),
        on_stdout_gone(std::move(gone)),
        user(u),
        listeners{Listener{this, kIn, l.in}, Listener{this, kOut, l.out}, Listener{this, kErr, l.err}} {
    for (auto& li : listeners) {
      if (int r = sd_event_add_io(ev, &li.src, li.fd, EPOLLIN, &Impl::on_accept, &li); r < 0) {
        release();
        throw_errno(-r, "watching the app's stdio sockets");
      }
    }
  }

  ~Impl() { release(); }

  void release() {
    for (auto& li : listeners) li.src = sd_event_source_disable_unref(li.src);
    for (auto& o : outputs) o->src = sd_event_source_disable_unref(o->src);
    in_read = sd_event_source_disable_unref(in_read);
    in_write = sd_event_source_disable_unref(in_write);
  }

  static int on_accept(sd_event_source*, int fd, uint32_t, void* data) {
    auto* li = static_cast<Listener*>(data);
    UniqueFd conn(::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!conn) return 0;
    if (li->stream == kIn)
      li->impl->attach_stdin(std::move(conn));
    else
      li->impl->add_output(std::move(conn), li->stream == kOut ? li->impl->user.out : li->impl->user.err);
    return 0;
  }

  // --- the app's stdout and stderr -------------------------------------------

  void add_output(UniqueFd conn, int to) {
    auto o = std::make_unique<Output>(Output{this, std::move(conn), to});
    if (sd_event_add_io(ev, &o->src, o->conn.get(), EPOLLIN, &Impl::on_output, o.get()) < 0) return;
    outputs.push_back(std::move(o));
  }

  static int on_output(sd_event_source*, int, uint32_t, void* data) {
    auto* o = static_cast<Output*>(data);
    if (!o->impl->copy_output(*o)) o->impl->remove_output(o);
    return 0;
  }

  /// Copies one chunk; false once the app's end is closed.
  bool copy_output(Output& o) {
    char chunk[kChunk];
    ssize_t n = ::read(o.conn.get(), chunk, sizeof chunk);
    if (n < 0) return transient(errno);
    if (n == 0) return false;
    forward(o.to, chunk, static_cast<size_t>(n));
    return true;
  }

  void forward(int to, const char* data, size_t size) {
    if (to == user.out && stdout_gone) return;
    if (write_all(to, data, size) || to != user.out || errno != EPIPE) return;
    // Nobody reads crt's stdout any more; what the app writes from now on
    // is dropped while the pod stops.
    stdout_gone = true;
    if (on_stdout_gone) on_stdout_gone();
  }

  void remove_output(Output* o) {
    sd_event_source_disable_unref(o->src);
    outputs.erase(std::find_if(outputs.begin(), outputs.end(), [o](const auto& p) { return p.get() == o; }));
  }

  void drain() {
    for (auto& o : outputs) {
      char chunk[kChunk];
      for (;;) {
        ssize_t n = ::read(o->conn.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        forward(o->to, chunk, static_cast<size_t>(n));
      }
    }
  }

  // --- crt's stdin -----------------------------------------------------------

  void attach_stdin(UniqueFd conn) {
    in_write = sd_event_source_disable_unref(in_write);
    in_conn = std::move(conn);
    if (sd_event_add_io(ev, &in_write, in_conn.get(), EPOLLOUT, &Impl::on_stdin_writable, this) < 0) {
      in_conn = UniqueFd();
      return;
    }
    if (!stdin_eof && in_read == nullptr) watch_stdin();
    if (stdin_eof && pending() == 0) ::shutdown(in_conn.get(), SHUT_WR);
    update_stdin();
  }

  /// crt's stdin, unless epoll cannot watch it (a regular file, /dev/null):
  /// then it is read whenever the app's connection takes more.
  void watch_stdin() {
    int r = sd_event_add_io(ev, &in_read, user.in, EPOLLIN, &Impl::on_stdin_readable, this);
    if (r == -EPERM) r = sd_event_add_defer(ev, &in_read, &Impl::on_stdin_defer, this);
    if (r < 0) stdin_eof = true;  // no stdin at all (closed)
  }

  size_t pending() const { return buf_len - buf_off; }

  void update_stdin() {
    if (in_read != nullptr)
      sd_event_source_set_enabled(in_read, in_conn && pending() == 0 && !stdin_eof ? SD_EVENT_ON : SD_EVENT_OFF);
    if (in_write != nullptr) sd_event_source_set_enabled(in_write, in_conn && pending() > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
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
    ssize_t n = ::read(user.in, buf.data(), buf.size());
    if (n < 0 && transient(errno)) return;
    if (n > 0) {
      buf_off = 0;
      buf_len = static_cast<size_t>(n);
      flush_stdin();
    } else {
      // End of file, or an error that ends the input all the same.
      stdin_eof = true;
      in_read = sd_event_source_disable_unref(in_read);
      if (in_conn) ::shutdown(in_conn.get(), SHUT_WR);
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
    while (in_conn && pending() > 0) {
      ssize_t n = ::send(in_conn.get(), buf.data() + buf_off, pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        buf_off += static_cast<size_t>(n);
      } else if (n < 0 && transient(errno)) {
        if (errno == EAGAIN) return;
      } else {
        // The app closed its stdin or ended. What it was sent and did not
        // read is lost; what it was not sent waits for a restarted app.
        in_write = sd_event_source_disable_unref(in_write);
        in_conn = UniqueFd();
        return;
      }
    }
    if (in_conn && stdin_eof) ::shutdown(in_conn.get(), SHUT_WR);
  }

  sd_event* ev;
  std::function<void()> on_stdout_gone;
  UserStdio user;
  std::array<Listener, 3> listeners;
  std::vector<std::unique_ptr<Output>> outputs;
  bool stdout_gone = false;
  UniqueFd in_conn;                     ///< the app's stdin
  sd_event_source* in_read = nullptr;   ///< crt's stdin readable (or a defer source)
  sd_event_source* in_write = nullptr;  ///< in_conn writable
  std::vector<char> buf = std::vector<char>(kChunk);
  size_t buf_off = 0;
  size_t buf_len = 0;
  bool stdin_eof = false;
};

StdioRelay::StdioRelay(sd_event* ev, StdioSockets listening, std::function<void()> on_stdout_gone, UserStdio user)
    : impl_(std::make_unique<Impl>(ev, listening, std::move(on_stdout_gone), user)) {}

StdioRelay::~StdioRelay() = default;

void StdioRelay::drain() noexcept { impl_->drain(); }

}  // namespace crt::runtime
