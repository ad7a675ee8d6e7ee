#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace crt::test {

/// A datagram socket bound at a path, as a service manager's notification
/// socket ($NOTIFY_SOCKET) is, that reads the messages sent to it (crt's
/// sd_notify()) as they come, on a thread of its own: a queue of datagrams
/// fills at net.unix.max_dgram_qlen (10 on some hosts), and the sender's
/// sd_notify() would then wait for a reader.
class NotifySocket {
 public:
  struct Message {
    std::string text;
    /// When it arrived, by the kernel's clock (SCM_TIMESTAMP), in seconds.
    std::optional<double> arrived;
  };

  /// Binds `path` (removed again at destruction); throws if it cannot.
  explicit NotifySocket(std::string path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  /// "NOTIFY_SOCKET=PATH", for a child's environment.
  [[nodiscard]] std::string env() const { return "NOTIFY_SOCKET=" + path_; }
  /// The messages so far, in the order they came, once those queued now
  /// are read (call it once the sender has ended to have all of them).
  [[nodiscard]] std::vector<Message> messages();
  /// The text of each message so far, as messages().
  [[nodiscard]] std::vector<std::string> texts();
  /// When each message reading `text` so far arrived (Message::arrived),
  /// in order; -1 for one the kernel did not stamp.
  [[nodiscard]] std::vector<double> arrivals(const std::string& text);

 private:
  void read_queued(int poll_ms);

  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  ///< messages_, and each read of the socket
  std::vector<Message> messages_;
  std::thread reader_;
};

}  // namespace crt::test
