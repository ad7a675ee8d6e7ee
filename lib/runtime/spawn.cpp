#include "runtime/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"

extern char** environ;

namespace crt::runtime {

namespace {

/// fork(), with the child born in the cgroup2 directory `cgroup` (clone3
/// CLONE_INTO_CGROUP); -1 where the kernel cannot. The child is a copy of
/// this process as after fork(), without glibc's fork handlers: like every
/// child here, it only makes async-signal-safe calls.
pid_t fork_into_cgroup(int cgroup) {
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cgroup);
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
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
  pid_t pid = s.cgroup.v2_dir ? fork_into_cgroup(s.cgroup.v2_dir.get()) : -1;
  bool born_in_cgroup = pid >= 0;
  if (!born_in_cgroup) pid = ::fork();
  if (pid < 0) throw_errno("starting " + s.argv.at(0));
  if (pid > 0) return pid;

  if (s.start_gate_peer >= 0) ::close(s.start_gate_peer);
  if (s.cgroup.v2_procs && !born_in_cgroup && ::write(s.cgroup.v2_procs.get(), "0", 1) != 1) _exit(126);
  for (const auto& fd : s.cgroup.v1_tasks)
    if (::write(fd.get(), "0", 1) != 1) _exit(126);
  if (s.own_process_group) ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
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
  if (s.keep_fd >= 0) ::fcntl(s.keep_fd, F_SETFD, 0);
  ::sigprocmask(SIG_SETMASK, &s.mask, nullptr);
  ::execvpe(argv[0], argv.data(), envp.data());
  _exit(127);
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
