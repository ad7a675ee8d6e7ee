#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace crt {

/// What a program run by run_program() did.
struct ProgramResult {
  int status = 0;  ///< exit status, or 128 + signal
  std::string out;
  std::string err;
  bool timed_out = false;  ///< it ran out of its time limit, and was stopped
};

/// How much longer than its time limit run_program() takes at most: the
/// program's SIGTERM at the limit, its SIGKILL 3 s later, and 3 s more for
/// what it started to close its output.
inline constexpr std::chrono::seconds kTimeLimitOverrun{6};

/// How long a program run by run_program() may take (0: no limit), and who
/// is told as it starts.
struct TimeLimit {
  template <typename Rep, typename Period>
  TimeLimit(std::chrono::duration<Rep, Period> d)  // NOLINT: a duration is a limit
      : limit(std::chrono::duration_cast<std::chrono::milliseconds>(d)) {}
  TimeLimit(std::chrono::milliseconds d, std::function<void(std::chrono::milliseconds)> starting)
      : limit(d), on_start(std::move(starting)) {}
  TimeLimit() = default;

  std::chrono::milliseconds limit{0};
  /// Called as each program with a limit starts, with how long it may take
  /// at most (`limit` and kTimeLimitOverrun); may be empty. May be called
  /// from several threads at once, for programs they run.
  std::function<void(std::chrono::milliseconds)> on_start;
};

/// Runs `argv` (argv[0] an absolute path, or a name searched in PATH) with
/// environment `env` ("K=V"), `input` on its stdin, and its stdout and
/// stderr captured, in a process group of its own (the terminal's signals
/// do not reach it); waits for it to end. Once crt holds a SIGINT, SIGTERM
/// or SIGHUP pending, a program that takes more than 3 s longer gets
/// SIGTERM (then SIGKILL 3 s later). Throws only when it cannot be
/// started; a failing program is reported through the result.
/// `inherited_fd` (unless -1) stays open in the program, under its number:
/// an flock(2) on it is then held for as long as the program, or anything
/// it starts that keeps the fd, runs, whether crt lives or not.
/// `time_limit` (unless 0) is how long it may take: then it is stopped as
/// for a stop of crt's (SIGTERM to its group at once, SIGKILL 3 s later),
/// and its output is not waited for longer than another 3 s; its
/// `on_start` is called before the program starts.
ProgramResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& input = {}, int inherited_fd = -1, const TimeLimit& time_limit = {});

/// waitpid(pid, status, 0), again whenever a signal interrupts it: `pid`,
/// or -1 with errno set (ECHILD: not a child, or reaped already). `status`
/// may be null. Async-signal-safe: a forked child may call it.
pid_t wait_child(pid_t pid, int* status) noexcept;

/// SIGPIPE ignored for its lifetime: a write to a pipe nobody reads fails
/// with EPIPE instead of killing crt. Threads may each hold one: SIGPIPE
/// is ignored until the last ends.
class SigpipeIgnored {
 public:
  SigpipeIgnored();
  ~SigpipeIgnored();
  SigpipeIgnored(const SigpipeIgnored&) = delete;
  SigpipeIgnored& operator=(const SigpipeIgnored&) = delete;
};

/// The system's program directories, as systemd gives services (and as
/// docker gives containers).
inline constexpr const char* kSystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `path` (a PATH value) with the directories of kSystemPath it lacks added
/// after its own.
std::string with_system_path(std::string path);

/// Adds to this process's PATH the system's program directories it lacks
/// (/usr/sbin, /sbin … as systemd gives services), where crt finds the
/// tools it runs (iptables-restore, nsenter, systemd-nspawn): cron's
/// PATH=/usr/bin:/bin, or none, would hide them and make a teardown look
/// done while nothing was removed. The caller's own directories come first.
void ensure_system_path();

/// The current environment without the variables named in `drop`.
std::vector<std::string> current_environment(const std::vector<std::string>& drop = {});

}  // namespace crt
