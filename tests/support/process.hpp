#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace crt::test {

/// How a child process ended: its exit status, or 128 + signal.
struct Result {
  int status = -1;  ///< the exit status, or 128 + the signal that ended it
  int signal = 0;   ///< the signal that ended it, or 0
  std::string out;
  std::string err;
  bool timed_out = false;
};

struct RunOptions {
  std::vector<std::string> env;  ///< extra "K=V" on top of the current environment
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::string input;         ///< written to stdin, then closed
  bool new_session = false;  ///< setsid(): its own process group, no terminal
};

/// A started child with its output captured.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const RunOptions& opts = {});
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  [[nodiscard]] pid_t pid() const { return pid_; }
  void signal(int sig) const;
  /// Waits (reading output) until it exits or the timeout passes; on
  /// timeout it is killed and Result::timed_out is set.
  Result wait();
  /// Reads output for up to `d` without waiting for exit; returns stdout so far.
  const std::string& read_for(std::chrono::milliseconds d);

 private:
  void pump(int timeout_ms);
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  std::chrono::steady_clock::time_point deadline_;
  Result result_;
  bool done_ = false;
};

/// Runs a command to its end.
Result run(const std::vector<std::string>& argv, const RunOptions& opts = {});

/// Runs a command on a new pseudo-terminal (its stdin, stdout and stderr) to
/// its end: its status, and everything it wrote to the terminal in `out`.
/// Stops reading after `idle` without output.
Result run_on_terminal(const std::vector<std::string>& argv,
                       std::chrono::milliseconds idle = std::chrono::seconds(30));

/// A command started on a new pseudo-terminal, driven as a user at that
/// terminal would: what it shows, what is typed, its size.
class TerminalProcess {
 public:
  /// The terminal has `rows` × `cols` (0: no size).
  explicit TerminalProcess(const std::vector<std::string>& argv, unsigned short rows = 0, unsigned short cols = 0);
  TerminalProcess(const TerminalProcess&) = delete;
  TerminalProcess& operator=(const TerminalProcess&) = delete;
  /// Kills it if it still runs, and reaps it.
  ~TerminalProcess();

  [[nodiscard]] int master() const { return master_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Reads what the terminal shows next, waiting up to `timeout`: 1 when
  /// something came, 0 when nothing did, -1 once the terminal has ended.
  int read_for(std::chrono::milliseconds timeout);
  /// Reads what the terminal shows until `needle` is in it (true), the
  /// timeout passes or the terminal ends.
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout);
  /// All that the terminal showed so far.
  [[nodiscard]] const std::string& shown() const { return shown_; }
  void type(const std::string& keys) const;
  /// Closes the terminal (a hangup, as when an ssh session ends).
  void hang_up();
  /// Waits for its end: its exit status, or 128 + signal.
  int wait();

 private:
  pid_t pid_ = -1;
  int master_ = -1;
  std::string shown_;
  bool reaped_ = false;
};

/// Reads a whole file ("" if absent).
std::string read_file(const std::string& path);

}  // namespace crt::test
