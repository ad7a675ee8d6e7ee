#include "runtime/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/subprocess.hpp"
#include "mount/mounts.hpp"
#include "runtime/pod_dir.hpp"

extern char** environ;

namespace crt::runtime {

namespace {

/// "WHAT: EPERM\n" on fd 2. strerrorname_np only looks up a table.
void child_error(const char* what, int err) {
  const char* name = strerrorname_np(err);
  if (name == nullptr) name = "unknown errno";
  const char* parts[] = {what, ": ", name, "\n"};
  for (const char* part : parts) (void)!::write(2, part, std::strlen(part));
}

}  // namespace

pid_t spawn(Spawn& s) {
  std::vector<char*> argv;
  for (auto& a : s.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : s.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();
  // Made before the fork: the child only writes it out.
  const std::string exec_error = "crt: executing " + s.argv.at(0);
  cgroup::Forked f = cgroup::fork_into(s.cgroup);
  if (f.pid < 0) throw_errno("starting " + s.argv.at(0));
  if (f.pid > 0) return f.pid;

  if (s.start_gate_peer >= 0) ::close(s.start_gate_peer);
  if (!f.moved) _exit(126);
  if (s.own_process_group) ::setpgid(0, 0);
  if (s.parent_death_signal != 0) ::prctl(PR_SET_PDEATHSIG, s.parent_death_signal);
  if (::getppid() != parent) _exit(1);
  if (s.start_gate) {
    char go = 0;
    ssize_t n;
    do n = ::read(s.start_gate.get(), &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) _exit(1);
  }
  if (s.stdin_fd) ::dup2(s.stdin_fd.get(), 0);
  if (s.stdout_fd) ::dup2(s.stdout_fd.get(), 1);
  if (s.stderr_fd) ::dup2(s.stderr_fd.get(), 2);
  for (int fd : s.keep_fds) ::fcntl(fd, F_SETFD, 0);
  ::sigprocmask(SIG_SETMASK, &s.mask, nullptr);
  if (s.seccomp) {
    if (int err = sandbox::install_pod_filter(*s.seccomp); err != 0) {
      child_error("crt: loading the pod's system call filter (pod-seccomp.bpf) failed", err);
      _exit(126);
    }
  }
  ::execvpe(argv[0], argv.data(), envp.data());
  child_error(exec_error.c_str(), errno);
  _exit(127);
}

// Through syscall(): Debian 12's <sys/pidfd.h> does not declare its
// functions extern "C".
UniqueFd open_pidfd(pid_t pid) { return UniqueFd(pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1); }

bool send_signal(const UniqueFd& process, int sig) {
  return process.valid() && ::syscall(SYS_pidfd_send_signal, process.get(), sig, nullptr, 0) == 0;
}

bool StopOnCrtDeath::supported() {
  static const bool have = open_pidfd(::getpid()).valid();
  return have;
}

StopOnCrtDeath::StopOnCrtDeath(pid_t nspawn, const std::filesystem::path& stop_requested,
                               std::chrono::milliseconds stop_timeout) {
  const std::string stop_file = stop_requested.string();
  const int stop_ms = static_cast<int>(std::min<int64_t>(stop_timeout.count(), INT32_MAX));
  UniqueFd pidfd = open_pidfd(nspawn);
  if (!pidfd) throw_errno("opening a pidfd of systemd-nspawn");
  UniqueFd null = fs::open_fd("/dev/null", O_RDWR);
  int host_ns = mount::original_mount_namespace();
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  int max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));
  sigset_t all, death;
  sigfillset(&all);
  sigemptyset(&death);
  sigaddset(&death, SIGUSR1);
  // Its own name and command line, so that what is meant for crt run
  // (killall -9 crt, pkill -9 -f 'crt run') does not end it with crt: the
  // pod would be left up, unwatched. Written over crt's arguments, whose
  // length is that of /proc/self/cmdline.
  std::string title = "pod-watch " + std::to_string(nspawn);
  size_t args_size = 0;
  try {
    args_size = fs::read_file("/proc/self/cmdline").size();
  } catch (const Error&) {
  }
  char* args = program_invocation_name;  // argv[0], followed by the other arguments
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("forking the pod's watch of crt");
  if (pid > 0) {
    pid_ = pid;
    return;
  }
  // Only system calls from here, as after any fork of a process that may
  // have threads (today crt has one here; a D-Bus client may add some, and
  // a lock held by one would never be released). Nothing but crt's death
  // ends it: every signal blocked (SIGKILL aside), and a session of its own,
  // so that what is sent to crt's process group (Ctrl-\, kill %1, timeout
  // -s KILL) does not take it along with crt.
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::setsid();
  ::prctl(PR_SET_NAME, "pod-watch");
  if (args != nullptr && args_size > 1) {
    std::memset(args, 0, args_size);
    std::memcpy(args, title.data(), std::min(title.size(), args_size - 1));
  }
  ::prctl(PR_SET_PDEATHSIG, SIGUSR1);
  int nspawn_fd = pidfd.get();
  if (::getppid() == parent) {
    // Nothing of crt's kept open: not its stdout's reader waiting for EOF,
    // not nspawn's start gate, not its private mount namespace.
    if (host_ns >= 0) (void)::setns(host_ns, CLONE_NEWNS);
    for (int i = 0; i < 3; ++i) ::dup2(null.get(), i);
    if (::dup2(pidfd.get(), 3) == 3) {
      nspawn_fd = 3;
      if (::close_range(4, ~0U, 0) < 0)
        for (int fd = 4; fd < max_fd; ++fd) ::close(fd);
    }
    while (::sigwaitinfo(&death, nullptr) < 0 && errno == EINTR) {
    }
  }
  int stop = ::open(stop_file.c_str(), O_RDONLY | O_CLOEXEC);
  char sent = 0;
  if (stop >= 0 && ::pread(stop, &sent, 1, PodDir::kStopSentAt) == 1 && sent == 's') {
    // The stop's timeout counts from its SIGTERM, not from crt's death.
    int wait_ms = stop_ms;
    int64_t sent_ns = 0;
    timespec now{};
    if (::pread(stop, &sent_ns, sizeof sent_ns, PodDir::kStopSentTimeAt) == sizeof sent_ns && sent_ns > 0 &&
        ::clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
      int64_t since_ms = (static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec - sent_ns) / 1000000;
      wait_ms = static_cast<int>(std::clamp<int64_t>(stop_ms - since_ms, 0, stop_ms));
    }
    // nspawn's pidfd reads as soon as it has exited.
    pollfd ended{nspawn_fd, POLLIN, 0};
    while (::poll(&ended, 1, wait_ms) < 0 && errno == EINTR) {
    }
  }
  ::syscall(SYS_pidfd_send_signal, nspawn_fd, SIGTERM, nullptr, 0);
  _exit(0);
}

void StopOnCrtDeath::cancel() noexcept {
  if (pid_ > 0) ::kill(pid_, SIGKILL);  // not reaped yet: the PID is still its
}

StopOnCrtDeath::~StopOnCrtDeath() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  (void)wait_child(pid_, nullptr);
}

std::vector<std::string> environment_with(const std::vector<std::string>& drop, const std::vector<std::string>& add) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (std::find(drop.begin(), drop.end(), key) == drop.end()) env.push_back(kv);
  }
  env.insert(env.end(), add.begin(), add.end());
  return env;
}

}  // namespace crt::runtime
