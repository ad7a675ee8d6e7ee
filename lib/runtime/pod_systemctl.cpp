#include "runtime/pod_systemctl.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <iterator>
#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/subprocess.hpp"
#include "runtime/app_process.hpp"

namespace crt::runtime {

std::optional<pid_t> pod_leader(pid_t nspawn_pid) {
  std::string path = "/proc/" + std::to_string(nspawn_pid) + "/task/" + std::to_string(nspawn_pid) + "/children";
  std::string children;
  try {
    children = fs::read_file(path);
  } catch (const Error&) {
    return std::nullopt;
  }
  std::istringstream in(children);
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  std::istringstream ns(proc_status(pid)["NSpid"]);
  std::vector<std::string> ids{std::istream_iterator<std::string>(ns), std::istream_iterator<std::string>()};
  if (ids.size() < 2 || ids.back() != "1") return std::nullopt;
  return pid;
}

std::string pod_systemctl(pid_t leader, const std::vector<std::string>& args) {
  UniqueFd pid_ns = fs::open_fd("/proc/" + std::to_string(leader) + "/ns/pid", O_RDONLY);
  UniqueFd ns = fs::open_fd("/proc/" + std::to_string(leader) + "/ns/mnt", O_RDONLY);
  std::vector<std::string> argv = {"/usr/bin/systemctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) throw_errno("creating a pipe");
  UniqueFd rd(out[0]), wr(out[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("forking");
  if (pid == 0) {
    // The pod's systemd talks only to processes of its own PID namespace;
    // its mount namespace also moves the root into stage1.
    if (::setns(pid_ns.get(), CLONE_NEWPID) < 0 || ::setns(ns.get(), CLONE_NEWNS) < 0) _exit(126);
    pid_t inner = ::fork();
    if (inner < 0) _exit(126);
    if (inner == 0) {
      ::dup2(wr.get(), 1);
      char* envp[] = {nullptr};
      ::execve(cargv[0], cargv.data(), envp);
      _exit(127);
    }
    int st = 0;
    if (wait_child(inner, &st) < 0) _exit(125);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 125);
  }
  wr.reset();
  // Reaped however the reading ends; the pipe closed first, so that it
  // cannot be left waiting to write.
  std::string text;
  std::exception_ptr unread;
  try {
    text = fs::read_fd(rd.get(), "the output of systemctl in the pod");
  } catch (...) {
    unread = std::current_exception();
  }
  rd.reset();
  int st = 0;
  if (wait_child(pid, &st) < 0) throw_errno("waiting for systemctl in the pod");
  if (unread) std::rethrow_exception(unread);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw Error("systemctl in the pod failed");
  return text;
}

}  // namespace crt::runtime
