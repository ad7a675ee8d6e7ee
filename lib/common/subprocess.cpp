#include "common/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/stop_signal.hpp"

extern char** environ;

namespace crt {

namespace {

struct Pipe {
  UniqueFd read, write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("creating a pipe");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct FileActions {
  posix_spawn_file_actions_t a{};
  FileActions() { posix_spawn_file_actions_init(&a); }
  ~FileActions() { posix_spawn_file_actions_destroy(&a); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

struct SpawnAttr {
  posix_spawnattr_t a{};
  SpawnAttr() { posix_spawnattr_init(&a); }
  ~SpawnAttr() { posix_spawnattr_destroy(&a); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

/// The program, in a group of its own, does not get the terminal's ^C: once
/// crt has one pending, a program that has not ended after a grace period
/// (a plugin waiting for a DHCP daemon, iptables for the xtables lock) gets
/// SIGTERM, and SIGKILL after another. One that outlasts its time limit gets
/// them at once and a grace period later.
class StopWatch {
 public:
  StopWatch(pid_t pid, std::chrono::milliseconds limit)
      : pid_(pid), limit_(limit), started_(std::chrono::steady_clock::now()) {}
  void check() {
    auto now = std::chrono::steady_clock::now();
    if (!stopping_) {
      if (limit_.count() > 0 && now - started_ >= limit_) {
        timed_out_ = true;
        since_ = now - kGrace;
      } else if (pending_stop_signal() != 0) {
        since_ = now;
      } else {
        return;
      }
      stopping_ = true;
    }
    auto waited = now - since_;
    if (waited >= 2 * kGrace)
      ::kill(-pid_, SIGKILL);
    else if (waited >= kGrace && !termed_)
      termed_ = ::kill(-pid_, SIGTERM) == 0;
  }
  [[nodiscard]] bool timed_out() const { return timed_out_; }
  /// Killed a grace period ago, it has not closed its output: what it
  /// started, out of its group, holds it.
  [[nodiscard]] bool given_up() const { return timed_out_ && std::chrono::steady_clock::now() - since_ >= 3 * kGrace; }

 private:
  static constexpr std::chrono::seconds kGrace{3};
  // Killed at its limit and a grace period later, given up a grace period
  // after that.
  static_assert(2 * kGrace == kTimeLimitOverrun);
  pid_t pid_;
  std::chrono::milliseconds limit_;
  std::chrono::steady_clock::time_point started_;
  bool stopping_ = false;
  bool timed_out_ = false;
  std::chrono::steady_clock::time_point since_;  ///< when crt was found stopping
  bool termed_ = false;
};

/// Feeds `input` and collects both outputs until the program closes them.
void pump(UniqueFd& in, UniqueFd& out, UniqueFd& err, const std::string& input, ProgramResult& r, StopWatch& stop) {
  size_t written = 0;
  if (input.empty()) in.reset();
  else ::fcntl(in.get(), F_SETFL, O_NONBLOCK);
  while ((out || err) && !stop.given_up()) {
    stop.check();
    pollfd fds[3];
    nfds_t n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1;
    if (in) { idx_in = static_cast<int>(n); fds[n++] = {in.get(), POLLOUT, 0}; }
    if (out) { idx_out = static_cast<int>(n); fds[n++] = {out.get(), POLLIN, 0}; }
    if (err) { idx_err = static_cast<int>(n); fds[n++] = {err.get(), POLLIN, 0}; }
    if (::poll(fds, n, 250) < 0) {
      if (errno == EINTR) continue;
      throw_errno("waiting for a program's output");
    }
    if (idx_in >= 0 && fds[idx_in].revents != 0) {
      ssize_t w = ::write(in.get(), input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) in.reset();
    }
    auto drain = [](UniqueFd& fd, std::string& to) {
      char buf[16384];
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got > 0) to.append(buf, static_cast<size_t>(got));
      else if (got == 0 || (errno != EINTR && errno != EAGAIN)) fd.reset();
    };
    if (idx_out >= 0 && fds[idx_out].revents != 0) drain(out, r.out);
    if (idx_err >= 0 && fds[idx_err].revents != 0) drain(err, r.err);
  }
}

/// Waits for the program to end once its output is closed, still under
/// `stop`: a program that closed its output (exec >/dev/null) and hangs is
/// stopped all the same.
void wait_for_end(pid_t pid, StopWatch& stop) {
  UniqueFd process(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!process) return;  // no pidfds: a plain wait
  for (;;) {
    pollfd p{process.get(), POLLIN, 0};
    int n = ::poll(&p, 1, 250);
    if (n > 0 || (n < 0 && errno != EINTR)) return;
    stop.check();
  }
}

}  // namespace

ProgramResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& input, int inherited_fd, const TimeLimit& time_limit) {
  if (argv.empty()) throw Error("running a program: no command given");
  if (time_limit.on_start && time_limit.limit.count() > 0) time_limit.on_start(time_limit.limit + kTimeLimitOverrun);
  Pipe in = make_pipe(), out = make_pipe(), err = make_pipe();
  FileActions fa;
  posix_spawn_file_actions_adddup2(&fa.a, in.read.get(), 0);
  posix_spawn_file_actions_adddup2(&fa.a, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa.a, err.write.get(), 2);
  // A dup2 onto itself clears O_CLOEXEC (POSIX, glibc since 2.29).
  if (inherited_fd >= 0) posix_spawn_file_actions_adddup2(&fa.a, inherited_fd, inherited_fd);
  // The child starts with the default signal mask and dispositions, whatever
  // crt has blocked for itself, in a process group of its own: a ^C or a
  // hangup at the terminal is crt's to act on once the program is done, not
  // a kill of a CNI plugin or iptables-restore half-way through its work.
  SpawnAttr attr;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr.a, &none);
  posix_spawnattr_setsigdefault(&attr.a, &all);
  posix_spawnattr_setpgroup(&attr.a, 0);
  posix_spawnattr_setflags(&attr.a, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = argv[0].find('/') != std::string::npos
               ? ::posix_spawn(&pid, argv[0].c_str(), &fa.a, &attr.a, args.data(), envp.data())
               : ::posix_spawnp(&pid, argv[0].c_str(), &fa.a, &attr.a, args.data(), envp.data());
  if (rc != 0) throw_errno(rc, "running " + quote(argv[0]));
  in.read.reset();
  out.write.reset();
  err.write.reset();

  ProgramResult r;
  try {
    SigpipeIgnored broken_pipe_is_an_error;
    StopWatch stop(pid, time_limit.limit);
    pump(in.write, out.read, err.read, input, r, stop);
    wait_for_end(pid, stop);
    r.timed_out = stop.timed_out();
  } catch (...) {
    ::kill(pid, SIGKILL);
    (void)wait_child(pid, nullptr);
    throw;
  }
  int status = 0;
  if (wait_child(pid, &status) < 0) throw_errno("waiting for " + quote(argv[0]));
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

pid_t wait_child(pid_t pid, int* status) noexcept {
  pid_t r;
  while ((r = ::waitpid(pid, status, 0)) < 0 && errno == EINTR) {
  }
  return r;
}

namespace {

// The disposition is the process's: threads that ignore SIGPIPE at once
// (a pod's network torn down while crt's masquerade rules go) share one
// ignoring, and the last to end restores what was before the first.
std::mutex sigpipe_mutex;
int sigpipe_ignorers = 0;
struct sigaction sigpipe_before {};

}  // namespace

SigpipeIgnored::SigpipeIgnored() {
  std::lock_guard lock(sigpipe_mutex);
  if (sigpipe_ignorers++ > 0) return;
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &sigpipe_before);
}

SigpipeIgnored::~SigpipeIgnored() {
  std::lock_guard lock(sigpipe_mutex);
  if (--sigpipe_ignorers == 0) ::sigaction(SIGPIPE, &sigpipe_before, nullptr);
}

std::string with_system_path(std::string path) {
  std::string_view system = kSystemPath;
  while (!system.empty()) {
    std::string_view dir = system.substr(0, system.find(':'));
    system.remove_prefix(std::min(system.size(), dir.size() + 1));
    if ((":" + path + ":").find(":" + std::string(dir) + ":") == std::string::npos)
      path += (path.empty() ? "" : ":") + std::string(dir);
  }
  return path;
}

void ensure_system_path() {
  const char* now = std::getenv("PATH");
  ::setenv("PATH", with_system_path(now != nullptr ? now : "").c_str(), 1);
}

std::vector<std::string> current_environment(const std::vector<std::string>& drop) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (std::find(drop.begin(), drop.end(), key) == drop.end()) env.push_back(std::move(kv));
  }
  return env;
}

}  // namespace crt
