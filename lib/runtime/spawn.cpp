#include "runtime/spawn.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/subprocess.hpp"

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
