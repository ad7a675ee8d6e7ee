#include "runtime/output_writer.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::runtime {

namespace {

std::mutex stderr_mutex;
OutputWriter* stderr_owner = nullptr;  ///< guarded by stderr_mutex
/// crt's stderr was closed: its lines go to the host's journal
/// (send_stderr_to_journal()).
std::atomic<bool> stderr_to_journal = false;

/// Each line of `text` to the host's journal, as crt's.
void journal_lines(std::string_view text, Severity severity) {
  const int priority = severity == Severity::kError ? LOG_ERR : LOG_NOTICE;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.starts_with("crt: ")) line.remove_prefix(5);
    if (line.empty()) continue;
    int prio = line.starts_with("warning:") ? LOG_WARNING : priority;
    // A journal that cannot be reached loses the line: nothing better is
    // left to say it with.
    (void)sd_journal_send("MESSAGE=%.*s", static_cast<int>(line.size()), line.data(), "PRIORITY=%i", prio,
                          "SYSLOG_IDENTIFIER=crt", nullptr);
  }
}

}  // namespace

void send_stderr_to_journal() { stderr_to_journal = true; }

bool is_journal_stream(int fd, const char* journal_stream) {
  if (journal_stream == nullptr) return false;
  const char* end = journal_stream + std::strlen(journal_stream);
  unsigned long long dev = 0, ino = 0;
  auto [colon, e1] = std::from_chars(journal_stream, end, dev);
  if (e1 != std::errc() || colon == end || *colon != ':') return false;
  auto [last, e2] = std::from_chars(colon + 1, end, ino);
  if (e2 != std::errc() || last != end) return false;
  struct stat st {};
  return ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void write_stderr(std::string_view text, Severity severity) {
  if (stderr_to_journal) {
    journal_lines(text, severity);
    return;
  }
  // crt's stderr may be a terminal an interactive app has made raw (crt's
  // pty passes the app's output to it as it is): crt's own lines then end
  // in "\r\n", as the terminal itself makes them otherwise, not in steps.
  std::string lines;
  if (termios t{}; ::tcgetattr(STDERR_FILENO, &t) == 0 && (t.c_oflag & OPOST) == 0) {
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) lines += '\r';
      lines += text[i];
    }
    text = lines;
  }
  {
    std::lock_guard lk(stderr_mutex);
    if (stderr_owner != nullptr && stderr_owner->write(text)) return;
  }
  // Nowhere left to say that crt's stderr failed.
  static_cast<void>(fs::write_all_noexcept(STDERR_FILENO, text));
}

OutputWriter::OutputWriter(sd_event* ev, int fd, std::function<void()> on_room, std::function<void()> on_gone)
    : fd_(fd), on_room_(std::move(on_room)), on_gone_(std::move(on_gone)),
      event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!event_) throw_errno("creating an eventfd for crt's output");
  if (int r = sd_event_add_io(ev, &src_, event_.get(), EPOLLIN, &OutputWriter::on_event, this); r < 0)
    throw_errno(-r, "watching crt's output");
  // Signals are the event loop's (signalfd): the thread must never take one.
  // But for SIGTTOU: a write of a background job to a terminal set to
  // `tostop` stops crt, as it stops any other writer.
  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGTTOU);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    src_ = sd_event_source_disable_unref(src_);
    throw Error(std::string("starting crt's output thread: ") + e.what());
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (fd == STDERR_FILENO) {
    std::lock_guard lk(stderr_mutex);
    stderr_owner = this;
  }
}

OutputWriter::~OutputWriter() {
  finish();
  src_ = sd_event_source_disable_unref(src_);
}

bool OutputWriter::write(std::string_view data) {
  std::lock_guard lk(m_);
  if (finishing_) return false;
  if (gone_ || data.empty()) return true;
  queued_.append(data);
  if (waiting() >= kLimit) was_full_ = true;
  work_.notify_one();
  return true;
}

bool OutputWriter::full() const {
  std::lock_guard lk(m_);
  return !gone_ && waiting() >= kLimit;
}

bool OutputWriter::gone() const {
  std::lock_guard lk(m_);
  return gone_;
}

int OutputWriter::lost() const {
  std::lock_guard lk(m_);
  return lost_;
}

void OutputWriter::wait_for_room() {
  std::unique_lock lk(m_);
  room_.wait(lk, [this] { return gone_ || waiting() < kLimit; });
}

void OutputWriter::finish() {
  {
    std::lock_guard lk(stderr_mutex);
    if (stderr_owner == this) stderr_owner = nullptr;
  }
  {
    std::lock_guard lk(m_);
    finishing_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void OutputWriter::run() noexcept {
  // Written a piece at a time, so that the room left is known as it goes.
  constexpr size_t kPiece = 64 * 1024;
  std::unique_lock lk(m_);
  for (;;) {
    work_.wait(lk, [this] { return !queued_.empty() || finishing_; });
    if (queued_.empty()) return;  // finishing, and all is written
    std::string chunk;
    chunk.swap(queued_);
    in_flight_ = chunk.size();
    for (size_t off = 0; off < chunk.size() && !gone_;) {
      size_t piece = std::min(kPiece, chunk.size() - off);
      lk.unlock();
      // fd_ may be non-blocking, set so by whoever shares it.
      int err = fs::write_all_noexcept(fd_, std::string_view(chunk).substr(off, piece));
      lk.lock();
      off += piece;
      in_flight_ -= piece;
      bool news = false;
      if (err == EPIPE) {
        // Nobody reads any more: what is queued, and what comes, is dropped.
        gone_ = true;
        queued_.clear();
        news = true;
      }
      // Other errors (a full disk, say) lose this piece only, as they would
      // lose what stdio had buffered; crt run says so at its end.
      if (err != 0 && err != EPIPE && lost_ == 0) lost_ = err;
      if (was_full_ && waiting() <= kLimit / 2) {
        was_full_ = false;
        room_news_ = true;
        news = true;
      }
      room_.notify_all();
      if (news) notify_loop();
    }
    in_flight_ = 0;
  }
}

void OutputWriter::notify_loop() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
}

int OutputWriter::on_event(sd_event_source*, int fd, uint32_t, void* self) {
  auto* w = static_cast<OutputWriter*>(self);
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof count);
  bool room = false, gone = false;
  {
    std::lock_guard lk(w->m_);
    room = std::exchange(w->room_news_, false);
    gone = w->gone_ && !w->gone_told_;
    if (gone) w->gone_told_ = true;
  }
  // The callbacks may well write more, or finish(). A writer whose reader
  // has gone has room: its sources go on, and what they give is dropped.
  try {
    if (gone && w->on_gone_) w->on_gone_();
    if ((room || gone) && w->on_room_) w->on_room_();
  } catch (const std::exception&) {
    // No exception may cross sd-event (out of memory, say): the loop goes on.
  }
  return 0;
}

std::string output_error_text(int err) {
  return err == EBADF ? "it is closed, or not open for writing" : std::strerror(err);
}

}  // namespace crt::runtime
