// app-exited: records how an app ended and applies the pod's exit policy.
//
//   app-exited --flush-output APP
//       the app unit's ExecStopPost=: crt has the app's last output reach the
//       pod's journal as the unit's;
//   app-exited --flush-output --reset-console APP
//       the same of an app on the pod's console that may be restarted: then
//       also sets the console as at the pod's boot, for the next run;
//   app-exited --flush-output --policy=POLICY --apps=A,B,… APP
//       the same ExecStopPost= of an app that is never restarted: then also
//       records the app's end, which systemd passes in $EXIT_CODE,
//       $EXIT_STATUS and $SERVICE_RESULT, and applies the policy;
//   app-exited --policy=POLICY --apps=A,B,… [--may-restart=A,…] APP
//       app-success@APP.service and app-failure@APP.service, which the app
//       unit starts through OnSuccess=/OnFailure=, with the result in
//       $MONITOR_*. For an app that is never restarted only OnFailure= is
//       set, in case its ExecStopPost= did not get to the end (it timed out
//       or could not run): a record that ExecStopPost= wrote is kept;
//   app-exited --reboot --apps=A,B,…
//       pod-reboot.service (machinectl reboot): stops the apps, forgets
//       their records and starts them again. How they end meanwhile is
//       neither recorded nor a reason to end the pod.
//
// The record lands in /crt/status/APP (the pod directory's status/ on the
// host), then the journal is synchronized, so the app's last output is
// kept, then the pod is stopped if the policy says so. Recording in the
// ExecStopPost= saves the pod's systemd starting a unit at every app's end.

#include <fcntl.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/lock.hpp"
#include "journal_sync.hpp"
#include "pod/exit_status.hpp"
#include "pod/terminal_mark.hpp"

namespace {

constexpr const char* kStatusDir = "/crt/status";
/// Made when an app's end stops the others (PodAction::kStopOthers): "APP
/// NS", that app's name and when (CLOCK_BOOTTIME, as records' seq). Not
/// JSON: crt's readers of records skip it.
constexpr const char* kPolicyStopFile = "/crt/status/.stopped-by";

/// There while pod-reboot.service stops the apps.
constexpr const char* kRebootFile = "/crt/status/.rebooting";

/// How often the pod has rebooted (none yet: no file): each run of its apps
/// has its number. A recorder takes it as it starts, when its run has ended
/// and the reboot after that run has not yet forgotten it (the reboot
/// counts up once the apps' stops and their recorders are done, or it
/// gave up on waiting for them). A recorder of an earlier run, one that
/// ran late, then neither records nor applies the exit policy: the apps
/// run again, and that run's end is not theirs.
constexpr const char* kRebootCountFile = "/crt/status/.reboots";

uint64_t reboot_count() {
  std::string text;
  try {
    text = crt::fs::read_file(kRebootCountFile);
  } catch (const crt::SystemError& e) {
    if (e.code() == ENOENT) return 0;
    throw;
  }
  return std::strtoull(text.c_str(), nullptr, 10);
}

/// Held (on the status directory) while a recorder checks that its run is
/// the current one and records or applies the exit policy, and while the
/// reboot counts up and forgets the run that ended: one of them is first.
crt::FileLock lock_runs() { return crt::FileLock::acquire(kStatusDir, crt::FileLock::Mode::kExclusive); }

/// Whether the pod rebooted since the run of `app` numbered `run` ended;
/// if so, says that what is left of its recorder's work is not done.
bool rebooted_since(uint64_t run, const std::string& app, const char* what) {
  if (reboot_count() == run) return false;
  std::printf("app '%s': the pod rebooted since this run of it ended: %s\n", app.c_str(), what);
  return true;
}

/// Whether app `app`, which ended at `end_ns` (CLOCK_BOOTTIME), ended
/// after another app's end had the pod stop the others.
bool ended_in_policy_stop(const std::string& app, uint64_t end_ns) {
  std::string text;
  try {
    text = crt::fs::read_file(kPolicyStopFile);
  } catch (const std::exception&) {
    return false;
  }
  size_t space = text.find(' ');
  if (space == std::string::npos || text.substr(0, space) == app) return false;
  return end_ns > std::strtoull(text.c_str() + space + 1, nullptr, 10);
}

using crt::boottime_ns;

/// A time of systemd's CLOCK_MONOTONIC, in microseconds, on CLOCK_BOOTTIME
/// in nanoseconds (they differ by the time the host was suspended since).
uint64_t boottime_from_monotonic_us(uint64_t us) {
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  uint64_t mono_ns = static_cast<uint64_t>(mono.tv_sec) * 1000000000ULL + static_cast<uint64_t>(mono.tv_nsec);
  return us * 1000 + (boottime_ns() - mono_ns);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<crt::pod::AppExit> read_records(const std::vector<std::string>& apps) {
  std::vector<crt::pod::AppExit> out;
  for (const auto& a : apps) {
    std::filesystem::path p = std::filesystem::path(kStatusDir) / a;
    if (!std::filesystem::exists(p)) continue;
    out.push_back(crt::json_text::parse(crt::fs::read_file(p)).get<crt::pod::AppExit>());
  }
  return out;
}

/// What the pod's systemctl prints with `args`.
std::string systemctl(std::vector<const char*> args, bool* ok = nullptr) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) return {};
  args.insert(args.begin(), "systemctl");
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::execv("/usr/bin/systemctl", const_cast<char* const*>(args.data()));
    _exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = -1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  if (ok != nullptr) *ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return text;
}

/// Properties of the app's unit as its systemd sees them now; none when
/// systemctl cannot get them. Its connection to the pod's systemd fails now
/// and then ("Transport endpoint is not connected", seen as the app hit its
/// start limit): it is tried again for up to 2 s.
std::map<std::string, std::string> unit_state(const std::string& app) {
  std::string unit = app + ".service";
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string text = systemctl(
        {"show",
         "--property=ActiveState,SubState,NRestarts,Result,ExecMainCode,ExecMainStatus,ExecMainExitTimestampMonotonic,"
         "InactiveExitTimestampMonotonic,InactiveEnterTimestampMonotonic,RestartUSec",
         unit.c_str()});
    std::map<std::string, std::string> props;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = text.substr(start, nl - start);
      size_t eq = line.find('=');
      if (eq != std::string::npos) props[line.substr(0, eq)] = line.substr(eq + 1);
    }
    if (props.count("ActiveState") != 0 && props.count("Result") != 0) return props;
    ::usleep(20000);
  }
  return {};
}

/// Whether systemd counted a restart that never ran. After a run ends (and
/// its ExecStopPost=), a unit to be restarted waits RestartSec in
/// auto-restart, which leaves the inactive state; when the wait is over,
/// systemd queues the restart's job and counts it (NRestarts), and the
/// start limit may then refuse it (or a stop replace it). So: the unit left
/// the inactive state after its last run ended, and went down again no
/// sooner than RestartSec later. A unit stopped while it waited was not
/// counted; one not restarted never left the inactive state after its run.
bool restart_never_ran(const std::string& exit_us, const std::string& up_us, const std::string& down_us,
                       const std::string& restart_sec) {
  uint64_t exited = std::strtoull(exit_us.c_str(), nullptr, 10);
  uint64_t waiting = std::strtoull(up_us.c_str(), nullptr, 10);
  uint64_t down = std::strtoull(down_us.c_str(), nullptr, 10);
  if (exited == 0 || waiting <= exited || down <= waiting) return false;
  try {
    auto wait = std::chrono::duration_cast<std::chrono::microseconds>(crt::parse_duration(restart_sec));
    return down - waiting >= static_cast<uint64_t>(wait.count());
  } catch (const crt::Error&) {
    return false;
  }
}

/// The end of the app's run that started this helper, as systemd passed
/// it: $MONITOR_* (OnSuccess=/OnFailure=), taken when the helper started.
crt::pod::AppExit end_from_monitor(const std::string& app) {
  return crt::pod::app_exit_from_systemd(app, std::getenv("MONITOR_EXIT_CODE"), std::getenv("MONITOR_EXIT_STATUS"),
                                         std::getenv("MONITOR_SERVICE_RESULT"), boottime_ns());
}

/// `e`, but a start that failed where the app never ran: OnSuccess= starts
/// its helper only after a run, while OnFailure= also starts it when the
/// unit's start job failed (its prepare-app@ failed, say), and then the
/// unit's result stays "success".
crt::pod::AppExit start_failed_if_never_ran(crt::pod::AppExit e) {
  if (e.exit_code.empty() && e.result == "success") {
    e.result = "dependency";  // the start job's result
    e.status = crt::kErrorExitCode;  // the pod's machinery failed, not the app
  }
  return e;
}

/// Apps do not wait for journald to start (their output waits in its
/// sockets), and journald makes its varlink socket as it starts: an app that
/// ends before that waits for the start to finish (at once if journald runs).
void wait_for_journald() {
  if (::access(crt::app_exited::kJournalVarlinkSocket, F_OK) != 0) systemctl({"start", "systemd-journald.service"});
}

/// On a terminal (an interactive app's unit, whose stdout this helper
/// shares), writes a mark after the app's last output, so crt knows when it
/// has read it all; its token, or empty. Not when the terminal does not
/// take it at once (output stopped with ^S, say): crt then reads what has
/// come.
std::string mark_terminal() {
  if (::isatty(STDOUT_FILENO) != 1) return {};
  std::string token;
  try {
    token = crt::pod::new_terminal_mark_token();
  } catch (const std::exception&) {
    return {};
  }
  std::string mark = crt::pod::terminal_mark(token);
  int flags = ::fcntl(STDOUT_FILENO, F_GETFL);
  if (flags < 0 || ::fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) < 0) return {};
  ssize_t n;
  while ((n = ::write(STDOUT_FILENO, mark.data(), mark.size())) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(mark.size()) ? token : std::string();
}

/// The pod's systemd is shutting down (crt stop, or another app ended it).
bool pod_stopping() { return systemctl({"is-system-running"}) == "stopping\n"; }

/// The pod's journald is stopped (SIGSTOP, from an app with CAP_KILL; a
/// debugger): it answers nothing until it is continued, which may never
/// come. Its state in /proc/PID/stat, after the ')' that ends its name.
bool journald_stopped() {
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = de.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat;
    try {
      stat = crt::fs::read_file(de.path() / "stat", 512);
    } catch (const crt::Error&) {
      continue;  // ended meanwhile
    }
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) continue;
    if (stat.compare(open + 1, close - open - 1, "systemd-journal") != 0) continue;
    char state = stat[close + 2];
    return state == 'T' || state == 't';
  }
  return false;
}

/// Whether to wait on for the pod's journald (or crt's copy into it): not
/// when the pod is being stopped, nor when journald is stopped.
bool journal_may_answer() { return !pod_stopping() && !journald_stopped(); }

/// The apps are being stopped for a reboot of the pod, not as it ends (a
/// stop of the pod that comes meanwhile ends it: then their ends count).
bool pod_rebooting() { return std::filesystem::exists(kRebootFile) && !pod_stopping(); }

/// Waits, up to `limit`, until the pod's systemd has no job but the
/// reboot's own: the recorders the apps' stops started have run.
void wait_for_other_jobs(std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    std::string text = systemctl({"list-jobs", "--no-legend"});
    bool other = false;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      char unit[256];
      unsigned id = 0;
      if (std::sscanf(text.c_str() + start, " %u %255s", &id, unit) != 2) continue;
      std::string_view u(unit);
      if (u != "pod-reboot.service" && u != "ctrl-alt-del.target") other = true;
    }
    if (!other) return;
    ::usleep(20000);
  }
}

/// The pod's console, an interactive app's terminal, set as the app's first
/// run found it (its size is kept): a run that the reboot (or its end,
/// before systemd restarts the app) stopped may have
/// left it raw and without echo (a line editor, a full-screen program), and
/// the next run would start so. Those settings are a new terminal's with
/// what the pod's systemd adds as it resets its console at boot (IMAXBEL,
/// IUTF8). Not systemd's TTYReset=, which at every end of the app's and its
/// helpers' processes also discards what the terminal has not yet passed
/// on: the app's last output, app-exited's mark after it.
void reset_console() {
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  termios t{};
  if (::tcgetattr(fd, &t) == 0) {
    t.c_iflag = ICRNL | IXON | IMAXBEL | IUTF8;
    t.c_oflag = OPOST | ONLCR;
    t.c_cflag = (t.c_cflag & ~(CSIZE | CSTOPB | PARENB | PARODD)) | CS8 | CREAD;
    t.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
    const std::pair<int, cc_t> kChars[] = {{VINTR, 003},    {VQUIT, 034},   {VERASE, 0177}, {VKILL, 025},
                                           {VEOF, 004},     {VTIME, 0},     {VMIN, 1},      {VSTART, 021},
                                           {VSTOP, 023},    {VSUSP, 032},   {VEOL, 0},      {VREPRINT, 022},
                                           {VDISCARD, 017}, {VWERASE, 027}, {VLNEXT, 026},  {VEOL2, 0}};
    for (const auto& [index, value] : kChars) t.c_cc[index] = value;
    ::tcsetattr(fd, TCSANOW, &t);
  }
  ::close(fd);
}

/// pod-reboot.service: the apps stopped in order, their records (and the
/// exit policy's mark) gone, and the apps started again, as at the pod's
/// start. The pod's systemd, journal, network and rootfs stay.
int reboot_pod(const std::vector<std::string>& apps) {
  if (pod_stopping()) {
    std::printf("the pod is stopping: it does not reboot\n");
    return 0;
  }
  std::vector<std::string> units;
  for (const auto& a : apps) units.push_back(a + ".service");
  std::vector<const char*> stop = {"stop"};
  for (const auto& u : units) stop.push_back(u.c_str());
  std::printf("rebooting the pod: stopping its apps\n");
  std::fflush(stdout);
  try {
    crt::fs::write_file_atomic(kRebootFile, std::to_string(boottime_ns()), 0644, crt::fs::Durability::kCached);
  } catch (const std::exception& e) {
    // Without it the apps' stops would end the pod: it goes on as it was.
    std::fprintf(stderr, "app-exited: the pod does not reboot: %s\n", e.what());
    return 1;
  }
  struct Mark {
    ~Mark() {
      std::error_code ignored;
      std::filesystem::remove(kRebootFile, ignored);
    }
  } mark;
  systemctl(stop);
  wait_for_other_jobs(std::chrono::seconds(10));
  if (pod_stopping()) {
    // crt stop or machinectl poweroff came meanwhile: the apps' ends are
    // recorded as the pod ends.
    std::printf("the pod is stopping: it does not start its apps again\n");
    return 0;
  }
  {
    crt::FileLock lock = lock_runs();
    // A recorder that applied the exit policy just now was first.
    if (pod_stopping()) {
      std::printf("the pod is stopping: it does not start its apps again\n");
      return 0;
    }
    try {
      crt::fs::write_file_atomic(kRebootCountFile, std::to_string(reboot_count() + 1), 0644,
                                 crt::fs::Durability::kCached);
    } catch (const std::exception& e) {
      // A recorder of the run that ended could take the next run's end for
      // its own: the pod ends instead, with its apps' ends recorded.
      std::fprintf(stderr, "app-exited: the pod's apps cannot start again: %s: the pod ends\n", e.what());
      ::kill(1, SIGRTMIN + 4);
      return 1;
    }
    // The records of the run that ended (made as at any end, so that a stop
    // coming now finds them): the next run's are its own.
    std::error_code ignored;
    for (const auto& a : apps) std::filesystem::remove(std::filesystem::path(kStatusDir) / a, ignored);
    std::filesystem::remove(kPolicyStopFile, ignored);
    std::filesystem::remove(kRebootFile, ignored);
  }
  reset_console();
  // An app that failed, or used up its start limit, starts as at first.
  // (Every unit: one named that systemd has unloaded, as it does a
  // stopped unit, is an error.)
  systemctl({"reset-failed"});
  // Tried again, as unit_state() does: the connection to the pod's systemd
  // fails now and then. A pod whose apps cannot be started again would
  // stay without them for ever: it ends.
  bool started = false;
  for (int i = 0; i < 100 && !started; ++i) {
    if (i > 0) ::usleep(20000);
    systemctl({"start", "--no-block", "default.target"}, &started);
  }
  if (!started) {
    std::fprintf(stderr, "app-exited: the pod's apps could not be started again: the pod ends\n");
    ::kill(1, SIGRTMIN + 4);
    return 1;
  }
  std::printf("rebooting the pod: its apps start again\n");
  return 0;
}

int run(int argc, char** argv) {
  bool flush = false;
  bool reset_console_after = false;
  bool reboot = false;
  std::string policy = "on-any-failure";
  std::vector<std::string> apps;
  std::vector<std::string> may_restart;
  std::string app;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--flush-output")
      flush = true;
    else if (a == "--reset-console")
      reset_console_after = true;
    else if (a == "--reboot")
      reboot = true;
    else if (a.rfind("--policy=", 0) == 0)
      policy = a.substr(9);
    else if (a.rfind("--apps=", 0) == 0)
      apps = split_commas(a.substr(7));
    else if (a.rfind("--may-restart=", 0) == 0)
      may_restart = split_commas(a.substr(14));
    else
      app = a;
  }
  if (reboot) {
    if (apps.empty() || flush || !app.empty()) {
      std::fprintf(stderr, "usage: app-exited --reboot --apps=A,B,...\n");
      return 2;
    }
    return reboot_pod(apps);
  }
  bool restarts_app = std::find(may_restart.begin(), may_restart.end(), app) != may_restart.end();
  if (app.empty() || (!flush && apps.empty()) || !crt::pod::is_exit_policy(policy) || (flush && restarts_app) ||
      (reset_console_after && (!flush || !apps.empty()))) {
    std::fprintf(stderr,
                 "usage: app-exited --flush-output [--reset-console | --policy=POLICY --apps=A,B,...] APP\n"
                 "       app-exited --policy=POLICY --apps=A,B,... [--may-restart=A,...] APP\n"
                 "       app-exited --reboot --apps=A,B,...\n");
    return 2;
  }
  // As the app ended (its ExecStopPost= runs at once): the order of the
  // apps' ends is not that of their flushes, which take as long as their
  // output does.
  const uint64_t ended = boottime_ns();
  const uint64_t run_number = reboot_count();
  if (flush) {
    // crt has what the app wrote reach the pod's journal as the unit's.
    // Within the unit's stop timeout (10 s). When the pod is being
    // stopped, or journald is, what journald has not taken is given up, as
    // the journal's own backlog is.
    crt::app_exited::flush_output(app, mark_terminal(), std::chrono::seconds(8), journal_may_answer);
    // After the run's last output (and mark): the settings change how the
    // terminal takes what comes, not what it has taken.
    if (reset_console_after) reset_console();
    if (apps.empty()) return 0;
  }
  // Stopped for the pod's reboot: recorded as at any stop by the pod (a
  // crt stop coming before the reboot starts the apps again finds how they
  // ended), but no reason to end the pod: the reboot removes the record
  // and starts the app again.
  const bool rebooting = pod_rebooting();

  std::filesystem::path record = std::filesystem::path(kStatusDir) / app;
  crt::pod::AppExit e;
  bool recorded = false;
  if (flush) {
    e = crt::pod::app_exit_from_systemd(app, std::getenv("EXIT_CODE"), std::getenv("EXIT_STATUS"),
                                        std::getenv("SERVICE_RESULT"), ended);
  } else if (!restarts_app && std::filesystem::exists(record)) {
    // The app's ExecStopPost= recorded it first: that record stands, so
    // the order of the apps' ends stays as it was.
    e = crt::json_text::parse(crt::fs::read_file(record)).get<crt::pod::AppExit>();
    recorded = true;
  } else if (restarts_app) {
    // systemd 252 passes through "failed" (and starts OnFailure=) even when
    // it is about to restart the app: only a unit that stays down has ended.
    auto st = unit_state(app);
    auto prop = [&st](const char* name) { return st.count(name) != 0 ? st.at(name) : std::string(); };
    // This may run late, when systemd has restarted the app already and
    // that run is ending too (its ExecStopPost=): how that ends decides.
    // Its OnFailure= start merges into this one's, so this one tells.
    for (int i = 0; i < 750 && prop("ActiveState") == "deactivating"; ++i) {
      ::usleep(20000);
      st = unit_state(app);
    }
    std::string active = prop("ActiveState");
    if (prop("SubState") == "auto-restart" || active == "activating" || active == "active" || active == "reloading")
      return 0;
    if (st.empty()) {
      // systemctl could not tell: the run that started this is taken for
      // the last one.
      e = start_failed_if_never_ran(end_from_monitor(app));
    } else {
      // The end is the last run's, as the unit has it now, not the run that
      // started this ($MONITOR_*, taken when it started): a failed run's
      // app-failure@ that runs after the next run succeeded (and its
      // app-success@ recorded that) records the same success.
      uint64_t restarts = std::strtoull(prop("NRestarts").c_str(), nullptr, 10);
      bool refused = restart_never_ran(prop("ExecMainExitTimestampMonotonic"), prop("InactiveExitTimestampMonotonic"),
                                       prop("InactiveEnterTimestampMonotonic"), prop("RestartUSec"));
      if (refused && restarts > 0) --restarts;
      // A restart refused after as many starts as the start limit allows,
      // not by a stop of the pod: the start limit's. systemd keeps the
      // result of the first failed run (exit-code, say) and says
      // start-limit-hit only of an app whose runs succeeded.
      std::string result = prop("Result");
      if (refused && restarts + 1 >= crt::pod::kRestartLimitBurst && !pod_stopping()) result = "start-limit-hit";
      e = start_failed_if_never_ran(crt::pod::app_exit_from_unit(app, std::atoi(prop("ExecMainCode").c_str()),
                                                                 std::atoi(prop("ExecMainStatus").c_str()), result,
                                                                 boottime_ns()));
      e.restarts = restarts;
      // Its last run ended as the pod stopped it after another app's end:
      // as for an app that is not restarted (its ExecStopPost=).
      if (uint64_t exit_us = std::strtoull(prop("ExecMainExitTimestampMonotonic").c_str(), nullptr, 10))
        e.stopped_by_pod = ended_in_policy_stop(app, boottime_from_monotonic_us(exit_us));
    }
  } else {
    e = start_failed_if_never_ran(end_from_monitor(app));
    // In the stead of its ExecStopPost= (which timed out or could not run):
    // whether the run ended as the pod's policy stopped it, as that would
    // have recorded, by when its main process ended.
    auto st = unit_state(app);
    if (auto it = st.find("ExecMainExitTimestampMonotonic"); it != st.end())
      if (uint64_t exit_us = std::strtoull(it->second.c_str(), nullptr, 10))
        e.stopped_by_pod = ended_in_policy_stop(app, boottime_from_monotonic_us(exit_us));
  }
  // Only where the record is made as the app ends: a later record (a
  // restarting app's, its OnFailure= helper's) is no time of its end.
  if (flush && !recorded) e.stopped_by_pod = ended_in_policy_stop(e.app, e.seq);
  // Ended as a stop ends an app, while the pod stops (not by its policy):
  // crt stop or machinectl poweroff, not a failure of the app's own. (A
  // restarting app's record is made as its unit stays down: the pod
  // stopping is why.)
  if (!recorded && !e.exit_code.empty() && e.status > 128 && !e.stopped_by_pod)
    e.during_pod_stop = rebooting || pod_stopping();
  {
    crt::FileLock lock = lock_runs();
    if (rebooted_since(run_number, app, "its end is not recorded")) return 0;
    if (!recorded) crt::pod::write_app_record(kStatusDir, e);
  }
  if (rebooting) return 0;
  crt::pod::PodAction action = crt::pod::decide(policy, apps, read_records(apps), e);
  // journald answers at once unless an app flooded it with output. A pod
  // that ends here keeps all of that, unless it is stopped meanwhile; while
  // other apps run (or are being stopped) their output may keep journald
  // from ever answering: a failed app's last words get 2 s.
  auto wait = action == crt::pod::PodAction::kFinish ? std::chrono::milliseconds(std::chrono::minutes(2))
                                                      : std::chrono::milliseconds(2000);
  wait_for_journald();
  bool synced = crt::app_exited::sync_journal(wait, journal_may_answer);

  // Held to the end: a reboot that comes now sees the pod stopping.
  crt::FileLock lock = lock_runs();
  if (action != crt::pod::PodAction::kContinue && rebooted_since(run_number, app, "the exit policy is not applied"))
    return 0;
  switch (action) {
    case crt::pod::PodAction::kContinue:
      break;
    case crt::pod::PodAction::kStopOthers:
      // An orderly poweroff: the other apps get their stop signal. How they
      // end then is not theirs to answer for.
      if (!std::filesystem::exists(kPolicyStopFile))
        crt::fs::write_file_atomic(kPolicyStopFile, app + " " + std::to_string(boottime_ns()), 0644,
                                   crt::fs::Durability::kCached);
      ::kill(1, SIGRTMIN + 4);
      break;
    case crt::pod::PodAction::kFinish:
      // Nothing of the pod's own is left running and the journal has it
      // all: end the pod's PID namespace now, as systemd-shutdown would at
      // the end of its work (nspawn sees a poweroff). Else, or if that is
      // not allowed, PID 1 ends the pod without stopping units.
      if (synced) ::reboot(RB_POWER_OFF);
      ::kill(1, SIGRTMIN + 14);
      break;
  }
  return 0;
}

/// The host's own PID namespace (the kernel's PROC_PID_INIT_INO): there PID 1
/// is the host's init, and reboot() would power the host off.
bool in_hosts_pid_namespace() {
  struct stat st {};
  return ::stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFFFFFCU;
}

/// Keeps of the environment only what systemd passes about the app's end.
/// The rest is the app's (Environment=, the image's): nothing of it may
/// steer this privileged helper (TZ, TMPDIR, …), or what it runs. glibc
/// reads GLIBC_TUNABLES and MALLOC_* before main, even in a static
/// program: given anything else, the helper starts again with the kept
/// variables only (once: then there is nothing else).
void keep_only_systemds_variables(char** argv) {
  static const std::string_view kKept[] = {"EXIT_CODE=",         "EXIT_STATUS=",         "SERVICE_RESULT=",
                                           "MONITOR_EXIT_CODE=", "MONITOR_EXIT_STATUS=", "MONITOR_SERVICE_RESULT="};
  std::vector<char*> kept;
  bool other = false;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (std::any_of(std::begin(kKept), std::end(kKept), [&](std::string_view k) { return v.rfind(k, 0) == 0; }))
      kept.push_back(*e);
    else
      other = true;
  }
  if (!other) return;
  kept.push_back(nullptr);
  // By its path, not /proc/self/exe: its name (comm, the journal's _COMM)
  // stays app-exited.
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    ::execve(self, argv, kept.data());
  }
  // No /proc: the environment at least goes.
  std::vector<std::string> copies(kept.begin(), kept.end() - 1);
  ::clearenv();
  for (const auto& c : copies) {
    size_t eq = c.find('=');
    ::setenv(c.substr(0, eq).c_str(), c.substr(eq + 1).c_str(), 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  keep_only_systemds_variables(argv);
  // It signals PID 1 and may end the PID namespace: only ever in a pod.
  if (in_hosts_pid_namespace()) {
    std::fprintf(stderr, "app-exited: runs in a crt pod only (as its app units' helper), not on the host\n");
    return 2;
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "app-exited: %s\n", e.what());
    ::kill(1, SIGRTMIN + 4);
    return 1;
  }
}
