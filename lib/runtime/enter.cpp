#include "runtime/enter.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>

#include "cgroup/cgroup.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/subprocess.hpp"
#include "pod/rootfs_lookup.hpp"
#include "runtime/app_process.hpp"
#include "runtime/images.hpp"
#include "runtime/spawn.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/pod_filter.hpp"
#include "sandbox/syscall_groups.hpp"

namespace crt::runtime {

namespace {

/// What the app's main process is, as the kernel reports it.
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  uint64_t inh = 0, prm = 0, eff = 0, bnd = 0, amb = 0;
  bool no_new_privs = false;
  bool seccomp = false;
  mode_t umask = 022;  ///< the app's (UMask=), not crt's
};

Credentials read_credentials(pid_t pid) {
  std::map<std::string, std::string> status = proc_status(pid);
  if (status.empty()) throw Error("the app's process " + std::to_string(pid) + " is gone");
  auto numbers = [&](const char* key) {
    std::vector<unsigned long> out;
    std::istringstream f(status[key]);
    for (unsigned long n; f >> n;) out.push_back(n);
    return out;
  };
  // Uid and Gid list the real, effective, saved and file system IDs.
  auto effective = [&](const char* key) {
    std::vector<unsigned long> ids = numbers(key);
    return ids.size() > 1 ? ids[1] : 0;
  };
  Credentials c;
  c.uid = static_cast<uid_t>(effective("Uid"));
  c.gid = static_cast<gid_t>(effective("Gid"));
  for (unsigned long g : numbers("Groups")) c.groups.push_back(static_cast<gid_t>(g));
  c.inh = status_mask(status, "CapInh");
  c.prm = status_mask(status, "CapPrm");
  c.eff = status_mask(status, "CapEff");
  c.bnd = status_mask(status, "CapBnd");
  c.amb = status_mask(status, "CapAmb");
  c.no_new_privs = status["NoNewPrivs"] == "1";
  c.seccomp = status["Seccomp"] == "2";
  if (const std::string& u = status["Umask"]; !u.empty())
    c.umask = static_cast<mode_t>(std::stoul(u, nullptr, 8) & 0777);
  return c;
}

std::vector<std::string> read_environ(pid_t pid) {
  std::string raw = fs::read_file("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> env;
  size_t start = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\0') continue;
    env.push_back(raw.substr(start, i - start));
    start = i + 1;
  }
  return env;
}

/// The environment the app's process started with, for the command: what
/// /proc says, less what the app's unit gave its main process alone
/// (NOTIFY_SOCKET, LISTEN_*: the pod's systemd would take the command's
/// messages as the app's). An app that wrote over its environment (nginx,
/// PostgreSQL setting their process title) leaves NULs there: then the
/// environment its unit was written with.
std::vector<std::string> app_environment(pid_t pid, const pod::AppManifest& app) {
  std::vector<std::string> env;
  bool has_path = false;
  for (auto& kv : read_environ(pid)) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string_view name(kv.data(), eq);
    if (name == "NOTIFY_SOCKET" || name.rfind("LISTEN_", 0) == 0) continue;
    has_path = has_path || name == "PATH";
    env.push_back(std::move(kv));
  }
  if (!has_path) {
    env.clear();
    for (const auto& [name, value] : app.env) env.push_back(name + "=" + value);
  }
  return env;
}

int errno_number(const std::string& name) {
  for (int e = 1; e < 4096; ++e) {
    const char* n = strerrorname_np(e);
    if (n != nullptr && name == n) return e;
  }
  return EPERM;
}

/// The app's system call filter as BPF, built the way systemd builds it.
std::vector<sock_filter> filter_program(const pod::AppManifest& app, std::vector<std::string> architectures) {
  const sandbox::SyscallFilter& f = app.seccomp;
  uint32_t denied = SCMP_ACT_ERRNO(static_cast<uint16_t>(errno_number(f.error_number)));
  scmp_filter_ctx ctx = seccomp_init(f.allow_list ? denied : SCMP_ACT_ALLOW);
  if (ctx == nullptr) throw Error("creating a system call filter");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  // The app's SystemCallArchitectures=; where it has none, systemd filters
  // every architecture it knows, and so does this.
  sandbox::add_filter_architectures(ctx, std::move(architectures));
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  for (const auto& name : sandbox::expand_syscalls(f)) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    seccomp_rule_add(ctx, f.allow_list ? SCMP_ACT_ALLOW : denied, nr, 0);
  }
  return sandbox::export_bpf(ctx);
}

/// The app's cgroup in every hierarchy, to start the entering process in
/// (see cgroup::CgroupEntry: neither way waits for an RCU grace period).
cgroup::CgroupEntry app_cgroup(pid_t pid) {
  cgroup::CgroupEntry entry;
  for (const auto& m : cgroups_of(pid)) {
    try {
      if (m.v2) {
        entry.v2_dir = fs::open_fd(m.dir, O_PATH | O_DIRECTORY);
        entry.v2_procs = fs::open_fd(m.dir + "/cgroup.procs", O_WRONLY);
      } else {
        entry.v1_tasks.push_back(fs::open_fd(m.dir + "/tasks", O_WRONLY));
      }
    } catch (const Error&) {
      // A hierarchy the app's unit has no cgroup of its own in.
    }
  }
  return entry;
}

bool set_caps(uint64_t eff, uint64_t prm, uint64_t inh) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2] = {{static_cast<uint32_t>(eff), static_cast<uint32_t>(prm), static_cast<uint32_t>(inh)},
                                  {static_cast<uint32_t>(eff >> 32), static_cast<uint32_t>(prm >> 32),
                                   static_cast<uint32_t>(inh >> 32)}};
  return ::syscall(SYS_capset, &h, d) == 0;
}

/// Everything the entering process needs, ready before fork().
struct Plan {
  cgroup::CgroupEntry cgroup;
  std::vector<UniqueFd> namespaces;  // cgroup, ipc, uts, net, pid, mnt
  UniqueFd root;
  std::string workdir;
  Credentials creds;
  std::optional<sandbox::PodFilter> pod_filter;  ///< the one over the whole pod
  std::vector<sock_filter> filter;               ///< the app's own
  std::vector<sock_filter> namespace_filter;     ///< its RestrictNamespaces=, if it has that
  std::vector<std::string> argv, env;
  std::string exec_path;
  /// The app's resource limits (LimitNOFILE= and the like, RLIMIT_*) and
  /// OOM score adjustment, not crt's.
  std::vector<std::pair<int, rlimit>> limits;
  std::string oom_score_adj;
};

/// How entering failed: the step and errno, written to the error pipe (it
/// closes unwritten on exec).
struct Failure {
  int step;
  int err;
};
const char* const kSteps[] = {"joining the app's namespaces",
                              "changing into the app's root",
                              "dropping capabilities",
                              "setting the app's user and groups",
                              "loading the app's system call filter",
                              "setting the app's capabilities",
                              "running the command",
                              "making a terminal in the pod",
                              "joining the app's cgroups",
                              "starting a session of its own",
                              "keeping crt's own descriptors from the app",
                              "setting the app's resource limits and OOM score",
                              "starting the command in the app",
                              "giving the command its stdin, stdout and stderr"};
constexpr int kStepTerminal = 7;
constexpr int kStepCgroup = 8;
constexpr int kStepSession = 9;
constexpr int kStepDescriptors = 10;
constexpr int kStepLimits = 11;
constexpr int kStepFork = 12;
constexpr int kStepStdio = 13;
static_assert(std::size(kSteps) == kStepStdio + 1, "a name for every step");

/// A process cannot join an app at its TasksMax=.
Error task_limit_reached(const std::string& uuid) {
  return Error("entering pod " + uuid +
               ": the app's task limit (--pids-limit, TasksMax=) is reached: no process can join it");
}

[[noreturn]] void fail(int fd, int step) noexcept {
  Failure f{step, errno};
  (void)!::write(fd, &f, sizeof f);
  _exit(127);
}

[[noreturn]] void become_app(Plan& p, char** argv, char** envp, int err_fd) noexcept {
  // While crt's capabilities still allow raising a hard limit or lowering
  // the OOM score adjustment, and /proc is the pod's.
  for (const auto& [resource, limit] : p.limits)
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &limit) < 0) fail(err_fd, kStepLimits);
  if (int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
    bool written = ::write(fd, p.oom_score_adj.data(), p.oom_score_adj.size()) >= 0;
    ::close(fd);
    if (!written) fail(err_fd, kStepLimits);
  }
  if (::fchdir(p.root.get()) < 0 || ::chroot(".") < 0) fail(err_fd, 1);
  if (::chdir(p.workdir.c_str()) < 0 && ::chdir("/") < 0) fail(err_fd, 1);
  ::umask(p.creds.umask);
  // Nothing of crt's but the command's stdin, stdout and stderr goes into
  // the app: no descriptor it inherited (the app's cgroup directory on the
  // host, say) reaches the command. Closed now, not on exec: until then this
  // process is one of the app's, and with the app's credentials (below) the
  // app could open them through /proc/PID/fd/ (were it dumpable). The error
  // pipe alone closes on exec.
  if ((err_fd > 3 && ::close_range(3, static_cast<unsigned>(err_fd) - 1, 0) < 0) ||
      ::close_range(static_cast<unsigned>(err_fd) + 1, ~0U, 0) < 0)
    fail(err_fd, kStepDescriptors);
  int last_cap = 40;
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap) < 0) {
      last_cap = cap - 1;
      break;
    }
  }
  for (int cap = 0; cap <= last_cap; ++cap)
    if ((p.creds.bnd & (1ULL << cap)) == 0 && ::prctl(PR_CAPBSET_DROP, cap) < 0) fail(err_fd, 2);
  if (p.creds.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(err_fd, 2);
  if (::setgroups(p.creds.groups.size(), p.creds.groups.data()) < 0 ||
      ::setresgid(p.creds.gid, p.creds.gid, p.creds.gid) < 0)
    fail(err_fd, 3);
  if (::prctl(PR_SET_KEEPCAPS, 1) < 0 || ::setresuid(p.creds.uid, p.creds.uid, p.creds.uid) < 0) fail(err_fd, 3);
  // Loading a filter without no_new_privs takes CAP_SYS_ADMIN: keep every
  // permitted capability effective until it is loaded.
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct now[2] = {};
  if (::syscall(SYS_capget, &h, now) < 0) fail(err_fd, 5);
  uint64_t permitted = now[0].permitted | (static_cast<uint64_t>(now[1].permitted) << 32);
  if (!set_caps(permitted, permitted, 0)) fail(err_fd, 5);
  if (p.pod_filter && sandbox::install_pod_filter(*p.pod_filter) != 0) fail(err_fd, 4);
  for (const auto* f : {&p.filter, &p.namespace_filter}) {
    if (f->empty()) continue;
    sock_fprog prog{static_cast<unsigned short>(f->size()), const_cast<sock_filter*>(f->data())};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) fail(err_fd, 4);
  }
  if (!set_caps(p.creds.eff, p.creds.prm, p.creds.inh)) fail(err_fd, 5);
  ::prctl(PR_SET_KEEPCAPS, 0);
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap <= last_cap; ++cap)
    if (p.creds.amb & (1ULL << cap)) ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGQUIT, SIG_DFL);
  // The command goes with crt enter (killed, say): not left running in the
  // pod. Set last: a change of credentials clears it.
  pid_t parent = ::getppid();
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != parent) _exit(128 + SIGKILL);
  ::execve(p.exec_path.c_str(), argv, envp);
  fail(err_fd, 6);
}

/// Where SIGTERM and SIGHUP sent to crt enter go on to: crt's child, the
/// process in the pod, and its child, the command (set in each after its
/// fork; 0 until then).
volatile pid_t forward_to = 0;

/// To the command's whole process group (it leads one of its own, once it
/// has called setsid()): a shell's children too, not only the shell.
void forward_signal(int sig) {
  if (forward_to > 0 && ::kill(-forward_to, sig) < 0) ::kill(forward_to, sig);
}

/// The process in the pod's parent-death signal: crt enter is gone, and so
/// goes the command's process group (the command itself would go with this
/// process, its children not).
void kill_command(int) {
  if (forward_to > 0) {
    ::kill(-forward_to, SIGKILL);
    ::kill(forward_to, SIGKILL);
  }
  _exit(128 + SIGKILL);
}

/// Waits for `pid`: its exit status, or 128 + the signal that ended it, as
/// a shell says; 125 if it cannot be waited for.
int wait_shell_status(pid_t pid) {
  int st = 0;
  if (wait_child(pid, &st) < 0) return 125;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/// crt's terminal in raw mode while a command runs on a terminal of the
/// pod's: keys go through unchanged, the pod's terminal interprets them.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) < 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSADRAIN, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSADRAIN, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

/// Copies crt's terminal (fds 0 and 1) to and from the pod's terminal
/// `master` until the command's side is closed or the command has ended
/// (a background job of its may hold the terminal on), passing window size
/// changes on; then waits for the command.
int relay_terminal(int master, pid_t command) {
  sigset_t winch;
  sigemptyset(&winch);
  sigaddset(&winch, SIGWINCH);
  ::sigprocmask(SIG_BLOCK, &winch, nullptr);
  int sfd = ::signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
  UniqueFd ended = open_pidfd(command);  // polls readable once the command has ended
  pollfd fds[4] = {
      {0, POLLIN, 0}, {master, POLLIN, 0}, {sfd, POLLIN, 0}, {ended.valid() ? ended.get() : -1, POLLIN, 0}};
  char buf[8192];
  for (;;) {
    if (::poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) > 0) {
      }
      winsize ws{};
      if (::ioctl(0, TIOCGWINSZ, &ws) == 0) ::ioctl(master, TIOCSWINSZ, &ws);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0 && fs::write_all_noexcept(master, {buf, static_cast<size_t>(n)}) != 0) break;
      if (n == 0 || (n < 0 && errno != EINTR)) fds[0].fd = -1;  // crt's terminal is gone: the command goes on
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || fs::write_all_noexcept(1, {buf, static_cast<size_t>(n)}) != 0)
        break;  // EIO: the command's side is closed
    }
    if (fds[3].revents & POLLIN) {
      // What the command wrote last (a job that goes on writing gets a
      // MiB of it), then no more.
      ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
      ssize_t n;
      for (size_t left = 1 << 20; left > 0 && (n = ::read(master, buf, sizeof buf)) > 0;
           left -= std::min(left, size_t(n)))
        if (fs::write_all_noexcept(1, {buf, static_cast<size_t>(n)}) != 0) break;
      break;
    }
  }
  // Closing the pod's terminal hangs it up: what still runs on it gets SIGHUP.
  ::close(master);
  return wait_shell_status(command);
}

/// The command's stdin, stdout and stderr without a terminal: pipes whose
/// other ends crt holds (its end first: `ours`).
struct StdioPipe {
  UniqueFd ours, its;
};
StdioPipe stdio_pipe(bool to_command) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("creating a pipe for the command's stdio");
  UniqueFd r(fds[0]), w(fds[1]);
  return to_command ? StdioPipe{std::move(w), std::move(r)} : StdioPipe{std::move(r), std::move(w)};
}

/// The command's stdin where crt gives it none of its own: /dev/null, and
/// nothing of crt's to copy.
StdioPipe null_stdin() {
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) throw_errno("opening '/dev/null' for the command's stdin");
  return {UniqueFd(), std::move(null)};
}

/// Copies crt's stdin to the command's (`in`, unless empty; end of file
/// included) and the command's stdout and stderr (`out`, `err`) to crt's,
/// until the command has ended (`child`, the process that waits for it,
/// has ended): the command gets pipes, never crt's own descriptors, which
/// the app could open again through /proc/PID/fd/ of the command (one of
/// its processes) and so read and write the host's files crt's caller
/// gave. A reader of crt's output that went away closes the command's side
/// (SIGPIPE, as if it wrote there itself); a command that closed its stdin
/// ends the copy of crt's. What the command wrote before it ended is copied whole; a job it
/// left running, a MiB more of what it writes.
void relay_stdio(UniqueFd in, UniqueFd out, UniqueFd err, pid_t child) {
  struct sigaction ignore {
  }, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe);  // EPIPE instead, from either side
  // A command that does not read holds no one up.
  if (in) ::fcntl(in.get(), F_SETFL, ::fcntl(in.get(), F_GETFL) | O_NONBLOCK);
  UniqueFd ended = open_pidfd(child);
  std::string pending;  // read from crt's stdin, not yet taken by the command
  char buf[64 * 1024];
  // One read of the command's `from`, written to crt's `to`; false once
  // either side is done with.
  auto copy = [&](UniqueFd& from, int to) {
    ssize_t n = ::read(from.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0 || fs::write_all_noexcept(to, {buf, static_cast<size_t>(n)}) != 0) {
      from.reset();
      return false;
    }
    return true;
  };
  constexpr short kReadable = POLLIN | POLLHUP | POLLERR | POLLNVAL;
  while (in || out || err) {
    pollfd fds[5] = {{in && pending.empty() ? 0 : -1, POLLIN, 0},
                     {in && !pending.empty() ? in.get() : -1, POLLOUT, 0},
                     {out ? out.get() : -1, POLLIN, 0},
                     {err ? err.get() : -1, POLLIN, 0},
                     {ended ? ended.get() : -1, POLLIN, 0}};
    if (::poll(fds, 5, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & kReadable) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0) pending.assign(buf, static_cast<size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) in.reset();  // the command reads end of file
    }
    if (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) {
      ssize_t n = ::write(in.get(), pending.data(), pending.size());
      if (n > 0) pending.erase(0, static_cast<size_t>(n));
      if (n < 0 && errno != EINTR && errno != EAGAIN) in.reset();  // the command closed its stdin
    }
    if (fds[2].revents & kReadable) copy(out, 1);
    if (fds[3].revents & kReadable) copy(err, 2);
    if (fds[4].revents & POLLIN) {
      // All the command wrote is in the pipes (they hold less than a MiB).
      for (auto [from, to] : {std::pair{&out, 1}, std::pair{&err, 2}}) {
        if (!*from) continue;
        ::fcntl(from->get(), F_SETFL, ::fcntl(from->get(), F_GETFL) | O_NONBLOCK);
        for (size_t left = 1 << 20; left > 0 && *from;) {
          int available = 0;
          if (::ioctl(from->get(), FIONREAD, &available) < 0 || available <= 0) break;
          left -= std::min(left, static_cast<size_t>(available));
          copy(*from, to);
        }
      }
      break;
    }
  }
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
}

Plan make_plan(const PodEntry& pod, const std::string& app_name, std::vector<std::string> command,
               const MessageSink& messages) {
  if (pod.status() != PodStatus::kRunning) throw Error("it is " + std::string(status_name(pod.status())));
  PodInfo info = pod_info(pod);
  if (!info.manifest) throw Error("it has no manifest");
  const pod::AppManifest& app = pick_app(*info.manifest, app_name);
  std::optional<pid_t> pid = app_main_pid(pod.path, *info.manifest, app.name);
  // Held while /proc/PID is read: as long as the process lives, its number
  // is no other's.
  UniqueFd pidfd = open_pidfd(pid.value_or(0));
  if (!pid || !pidfd) throw Error("app " + quote(app.name) + " is not running");
  std::string proc = "/proc/" + std::to_string(*pid);

  // An app allowed user namespaces may have made one of its own: /proc
  // then shows its capabilities there, all of them, which crt would give
  // the command on the host. Pods have none: the app's is crt's.
  struct stat mine {};
  struct stat its {};
  if (::stat("/proc/self/ns/user", &mine) < 0 || ::stat((proc + "/ns/user").c_str(), &its) < 0)
    throw_errno("comparing the user namespace of app " + quote(app.name) + " with crt's");
  if (mine.st_ino != its.st_ino || mine.st_dev != its.st_dev)
    throw Error("the main process of app " + quote(app.name) +
                " is in a user namespace of its own: crt enter will not take its credentials");
  Plan p;
  p.creds = read_credentials(*pid);
  // Never more than the pod gave the app, whatever /proc says.
  const uint64_t bounding = sandbox::capability_mask(app.capabilities);
  for (uint64_t* set : {&p.creds.inh, &p.creds.prm, &p.creds.eff, &p.creds.bnd, &p.creds.amb}) *set &= bounding;
  for (int r = 0; r < RLIM_NLIMITS; ++r) {
    rlimit l{};
    if (::prlimit(*pid, static_cast<__rlimit_resource>(r), nullptr, &l) == 0) p.limits.emplace_back(r, l);
  }
  p.oom_score_adj = fs::read_file(proc + "/oom_score_adj");
  p.env = app_environment(*pid, app);
  p.workdir = app.working_dir;
  p.root = fs::open_fd(proc + "/root", O_PATH | O_DIRECTORY);
  for (const char* ns : {"cgroup", "ipc", "uts", "net", "pid", "mnt"})
    p.namespaces.push_back(fs::open_fd(proc + "/ns/" + ns, O_RDONLY));
  p.cgroup = app_cgroup(*pid);
  if (!send_signal(pidfd, 0)) throw Error("app " + quote(app.name) + " ended while crt looked at it");
  if (p.creds.seccomp) {
    p.pod_filter = sandbox::find_pod_filter(default_data_dir());
    if (!p.pod_filter) {
      // As nspawn does where it compiles the filter: a session keyring of
      // the command's own all the same.
      p.pod_filter.emplace();
      tell(messages, "warning: " + sandbox::pod_filter_path(default_data_dir()).string() +
                         " is missing: the command gets the app's system call filter, not the pod's");
    }
    p.filter = filter_program(app, info.manifest->syscall_architectures);
    if (app.allowed_namespaces)
      p.namespace_filter =
          sandbox::namespace_filter_program(info.manifest->syscall_architectures, *app.allowed_namespaces);
  }

  pod::AppManifest probe = app;
  probe.env.clear();
  for (const auto& kv : p.env) {
    size_t eq = kv.find('=');
    if (eq != std::string::npos) probe.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (command.empty()) {
    int err = 0;
    try {
      fs::open_in_root(p.root.get(), "/bin/sh", O_PATH).reset();
    } catch (const SystemError& e) {
      err = e.code();
    }
    if (err != 0) throw Error("the image has no shell (/bin/sh): give a command to run");
    command = {"/bin/sh"};
  }
  probe.argv = command;
  pod::resolve_exec(probe, p.root.get(), "the rootfs of app " + quote(app.name));
  p.exec_path = probe.exec_path;
  p.argv = std::move(command);
  return p;
}

}  // namespace

int enter_app(const PodEntry& pod, const std::string& app, std::vector<std::string> command, EnterInput input,
              const MessageSink& messages) {
  const bool terminal = input == EnterInput::kTerminal;
  Plan p = with_context("entering pod " + pod.uuid, [&] { return make_plan(pod, app, std::move(command), messages); });
  if (terminal && std::none_of(p.env.begin(), p.env.end(), [](const std::string& kv) { return kv.rfind("TERM=", 0) == 0; })) {
    const char* term = std::getenv("TERM");
    p.env.push_back(std::string("TERM=") + (term != nullptr && *term != '\0' ? term : "xterm"));
  }
  std::vector<char*> argv, envp;
  for (auto& a : p.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : p.env) envp.push_back(e.data());
  envp.push_back(nullptr);

  // Held back from before crt takes them until each process knows where to
  // forward them (forward_to): one that came in between would be lost, and
  // the command run on.
  struct HeldSignals {
    sigset_t before{};
    bool held = true;
    HeldSignals() {
      sigset_t forwarded;
      ::sigemptyset(&forwarded);
      for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP}) ::sigaddset(&forwarded, sig);
      ::sigprocmask(SIG_BLOCK, &forwarded, &before);
    }
    void release() {
      if (held) ::sigprocmask(SIG_SETMASK, &before, nullptr);
      held = false;
    }
    ~HeldSignals() { release(); }
  } hold;
  const sigset_t& before = hold.before;
  // The terminal's ^C is for the command, not for crt. On a terminal of the
  // pod's, the command gets it from there (crt's is raw). Otherwise the
  // command has a session of its own (below), and crt passes ^C on.
  struct sigaction interrupt {
  }, old_int{}, old_quit{};
  interrupt.sa_handler = terminal ? SIG_IGN : forward_signal;
  ::sigaction(SIGINT, &interrupt, &old_int);
  ::sigaction(SIGQUIT, &interrupt, &old_quit);

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) throw_errno("creating a pipe");
  UniqueFd err_read(pipefd[0]), err_write(pipefd[1]);
  // Without a terminal, the command's stdio: relayed (relay_stdio()).
  std::optional<StdioPipe> in, out, errors;
  if (!terminal) {
    in = input == EnterInput::kPiped ? stdio_pipe(true) : null_stdin();
    out = stdio_pipe(false);
    errors = stdio_pipe(false);
  }
  std::optional<RawTerminal> raw;
  if (terminal) raw.emplace(0);
  // SIGTERM and SIGHUP reach the command (through the process in the pod),
  // which ends as it ends on them; crt enter then ends with its status.
  struct sigaction forward {
  }, old_term{}, old_hup{};
  forward.sa_handler = forward_signal;
  ::sigaction(SIGTERM, &forward, &old_term);
  ::sigaction(SIGHUP, &forward, &old_hup);
  pid_t crt_pid = ::getpid();
  cgroup::Forked forked = cgroup::fork_into(p.cgroup);
  pid_t child = forked.pid;
  if (child > 0) forward_to = child;
  if (child != 0) hold.release();
  if (child < 0) {
    int err = errno;
    // Into the app's cgroup: gone with the app, or at its TasksMax=.
    std::string where = "entering pod " + pod.uuid + ": ";
    if (err == ENODEV || err == ENOENT) throw Error(where + "the app ended as crt entered it");
    if (err == EAGAIN) throw task_limit_reached(pod.uuid);
    throw_errno(err, where + "starting a process in the app");
  }
  if (child == 0) {
    err_read.reset();
    // Nothing of the app's may look into this process or the command's
    // before it runs (/proc/PID/fd/, root, environ): they have crt's
    // descriptors and memory, and soon the app's credentials. exec makes
    // the command dumpable again.
    if (::prctl(PR_SET_DUMPABLE, 0) < 0) fail(err_write.get(), kStepDescriptors);
    // Gone with crt enter, and the command's process group with it.
    struct sigaction on_crt_death {};
    on_crt_death.sa_handler = kill_command;
    sigset_t usr1;
    ::sigemptyset(&usr1);
    ::sigaddset(&usr1, SIGUSR1);
    if (::sigaction(SIGUSR1, &on_crt_death, nullptr) < 0 || ::sigprocmask(SIG_UNBLOCK, &usr1, nullptr) < 0 ||
        ::prctl(PR_SET_PDEATHSIG, SIGUSR1) < 0 || ::getppid() != crt_pid)
      _exit(128 + SIGKILL);
    // Out of crt's process group: the terminal's ^C reaches only crt, which
    // passes it on once (this process forwards what crt sends).
    if (!terminal) ::setpgid(0, 0);
    if (!forked.moved) fail(err_write.get(), kStepCgroup);
    for (const auto& ns : p.namespaces)
      if (::setns(ns.get(), 0) < 0) fail(err_write.get(), 0);
    // A terminal of the pod's own devpts (the app's /dev/pts is bound from
    // it), so that the command's terminal exists in the pod (tty, ttyname).
    int master = -1, peer = -1;
    if (terminal) {
      master = ::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
      int unlock = 0;
      if (master < 0 || ::ioctl(master, TIOCSPTLCK, &unlock) < 0) fail(err_write.get(), kStepTerminal);
      peer = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
      // The app's user's, as login makes a terminal its user's: what the
      // command opens by name (ttyname) it can open again.
      if (peer < 0 || ::fchown(peer, p.creds.uid, static_cast<gid_t>(-1)) < 0) fail(err_write.get(), kStepTerminal);
      winsize ws{};
      if (::ioctl(0, TIOCGWINSZ, &ws) == 0) ::ioctl(peer, TIOCSWINSZ, &ws);
    }
    // setns() to a PID namespace takes effect for children only. _Fork: this
    // process came from clone3, past glibc's fork handlers (cgroup::fork_into).
    pid_t inner = ::_Fork();
    if (inner < 0) fail(err_write.get(), kStepFork);
    if (inner > 0) {
      forward_to = inner;
      ::sigprocmask(SIG_SETMASK, &before, nullptr);
      for (auto* pipe : {&in, &out, &errors}) pipe->reset();  // crt's and the command's alone
    }
    if (inner == 0) {
      // What came before the command was there ends it as it would the
      // command (this process has nothing to forward it to).
      for (int sig : {SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
      if (!terminal) {
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGQUIT, SIG_DFL);
      }
      ::sigprocmask(SIG_SETMASK, &before, nullptr);
      if (terminal) {
        ::close(master);
        if (::setsid() < 0 || ::ioctl(peer, TIOCSCTTY, 0) < 0) fail(err_write.get(), kStepTerminal);
        for (int fd = 0; fd <= 2; ++fd)
          if (::dup2(peer, fd) < 0) fail(err_write.get(), kStepTerminal);
        if (peer > 2) ::close(peer);
      } else {
        if (::dup2(in->its.get(), 0) < 0 || ::dup2(out->its.get(), 1) < 0 || ::dup2(errors->its.get(), 2) < 0)
          fail(err_write.get(), kStepStdio);
        // Without a controlling terminal: crt's terminal, if its stdin is
        // one, cannot be made to type into the host's shell (TIOCSTI).
        if (::setsid() < 0) fail(err_write.get(), kStepSession);
      }
      become_app(p, argv.data(), envp.data(), err_write.get());
    }
    err_write.reset();
    if (terminal) {
      ::close(peer);
      _exit(relay_terminal(master, inner));
    }
    _exit(wait_shell_status(inner));
  }
  err_write.reset();
  for (auto* pipe : {&in, &out, &errors})
    if (*pipe) (*pipe)->its.reset();
  Failure f{};
  ssize_t n;
  while ((n = ::read(err_read.get(), &f, sizeof f)) < 0 && errno == EINTR) {
  }
  if (n == 0 && !terminal) relay_stdio(std::move(in->ours), std::move(out->ours), std::move(errors->ours), child);
  int status = wait_shell_status(child);
  forward_to = 0;
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  if (n == static_cast<ssize_t>(sizeof f)) {
    if (f.step == kStepFork && f.err == EAGAIN) throw task_limit_reached(pod.uuid);
    throw SystemError(f.err, "entering pod " + pod.uuid + ": " + kSteps[f.step]);
  }
  return status;
}

}  // namespace crt::runtime
