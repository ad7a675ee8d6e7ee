#pragma once

#include <systemd/sd-event.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/fd.hpp"

namespace crt::runtime {

/// Whether `fd` is the journal's stream that systemd gave a service for its
/// output: `journal_stream` is $JOURNAL_STREAM ("DEVICE:INODE", decimal),
/// null where unset.
[[nodiscard]] bool is_journal_stream(int fd, const char* journal_stream);

/// One of crt's own outputs (its stdout or stderr) while it supervises a
/// pod. The writing happens on a thread of its own, so that a reader who
/// stalls (a pager, a terminal stopped with ^S, a full pipe) stalls neither
/// crt's event loop, nor its signals, nor the pod's stop. The fd is left as
/// it is (blocking, usually): crt shares it with whoever gave it to crt.
///
/// What waits to be written is bounded only by the caller: once full(), the
/// caller stops reading its sources until `on_room`.
///
/// A writer of fd 2 owns crt's stderr until finish(): write_stderr() goes
/// through it.
class OutputWriter {
 public:
  /// From this many bytes waiting, full() is true.
  static constexpr size_t kLimit = 4 << 20;

  /// `on_room` is called in `ev`'s loop when a writer that was full() is
  /// down to half its limit; `on_gone` once, in the loop, when the fd's
  /// reader has gone (EPIPE): from then on, what is written is dropped.
  /// Expects SIGPIPE ignored.
  OutputWriter(sd_event* ev, int fd, std::function<void()> on_room, std::function<void()> on_gone);
  /// finish()es.
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  /// Queues `data`; never blocks. False once finish() has begun (`data`
  /// is not written).
  bool write(std::string_view data);
  /// What waits has reached kLimit: the caller's sources should pause.
  [[nodiscard]] bool full() const;
  /// The reader has gone: what is written is dropped.
  [[nodiscard]] bool gone() const;
  /// The errno of the first write that lost output (a full disk, an I/O
  /// error; not EPIPE, which is gone()), or 0.
  [[nodiscard]] int lost() const;
  /// Blocks while full(): for the end of a pod, when nothing else waits
  /// for the loop.
  void wait_for_room();
  /// Blocks until all is written (or the reader has gone); then the writer
  /// takes no more.
  void finish();

 private:
  void run() noexcept;
  [[nodiscard]] size_t waiting() const { return queued_.size() + in_flight_; }
  void notify_loop();
  static int on_event(sd_event_source*, int, uint32_t, void* self);

  int fd_;
  std::function<void()> on_room_, on_gone_;
  UniqueFd event_;  ///< an eventfd: the thread's news for the loop
  sd_event_source* src_ = nullptr;

  mutable std::mutex m_;
  std::condition_variable work_, room_;
  std::string queued_;
  size_t in_flight_ = 0;  ///< taken by the thread, not yet written
  bool was_full_ = false;
  bool room_news_ = false;  ///< for on_room, not yet seen by the loop
  bool gone_ = false;
  int lost_ = 0;
  bool gone_told_ = false;
  bool finishing_ = false;
  std::thread thread_;
};

/// How much a line of crt's matters, in the journal (send_stderr_to_journal()).
enum class Severity { kNotice, kError };

/// Writes `text` to crt's stderr: through the writer that owns fd 2 while
/// a pod is supervised (so that a stalled reader of stderr does not stall
/// the loop, and messages stay apart from the apps' stderr), else straight.
/// On a terminal without output processing (raw), lines end in "\r\n".
void write_stderr(std::string_view text, Severity severity = Severity::kNotice);

/// crt started with its stderr closed (2>&-): from now on, write_stderr()
/// sends each line to the host's journal instead, as crt's
/// (SYSLOG_IDENTIFIER=crt, "crt: " left out, a line that begins with
/// "warning:" as a warning): an admin looks there for what a crt without a
/// terminal said. Where no journald listens, the lines go nowhere.
void send_stderr_to_journal();

/// Why a write to crt's stdout or stderr failed with `err`, for a message:
/// strerror(), but EBADF in words a user can act on (crt starts with a
/// closed stdout or stderr open read-only, so that nothing else lands on it).
std::string output_error_text(int err);

}  // namespace crt::runtime
