#include "runtime/stop.hpp"

#include <fcntl.h>
#include <signal.h>

#include <charconv>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "runtime/app_process.hpp"
#include "runtime/machines.hpp"
#include "runtime/pod_dir.hpp"
#include "runtime/pod_systemctl.hpp"

namespace crt::runtime {

namespace {

pid_t read_pid(const std::filesystem::path& pod) {
  std::string s;
  try {
    s = fs::read_file(pod / "pid");
  } catch (const Error&) {
    return -1;
  }
  pid_t pid = -1;
  std::from_chars(s.data(), s.data() + s.size(), pid);
  return pid;
}

/// True once nobody holds the pod directory's lock.
bool has_exited(const std::filesystem::path& pod) {
  int fd = ::open(pod.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return true;
  return FileLock::try_acquire(UniqueFd(fd), FileLock::Mode::kShared).valid();
}

bool wait_exited(const std::filesystem::path& pod, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!has_exited(pod)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// Whether `pid` is the nspawn of this pod (PIDs are reused).
bool is_pods_nspawn(pid_t pid, const std::string& uuid) {
  std::string cmdline;
  try {
    cmdline = fs::read_file("/proc/" + std::to_string(pid) + "/cmdline");
  } catch (const Error&) {
    return false;
  }
  return cmdline.find("systemd-nspawn") != std::string::npos && cmdline.find("--uuid=" + uuid) != std::string::npos;
}

/// Whether the pod of nspawn `nspawn` takes an orderly stop.
bool takes_orderly_stop_now(pid_t nspawn) {
  std::optional<pid_t> leader = pod_leader(nspawn);
  return leader && takes_orderly_stop(*leader);
}

/// Tells the pod's crt run that its pod was stopped on request, should it
/// end before its apps ran (see PodDir::stop_requested_file).
void mark_stop_requested(const std::filesystem::path& pod) {
  int fd = ::open((pod / PodDir::kStopRequestedFile).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

}  // namespace

void stop_pod(const PodEntry& pod, bool force, std::chrono::milliseconds timeout) {
  with_context("stopping pod " + pod.uuid, [&] {
    if (pod.status() != PodStatus::kRunning) throw Error("it is " + std::string(status_name(pod.status())));
    // On a systemd host the pod is a machine: machined stops it the way
    // machinectl does, whoever started it (a terminal, crt@.service, …).
    PodInfo info = pod_info(pod);
    mark_stop_requested(pod.path);
    if (info.manifest && stop_pod_machine(info.manifest->machine_name(), force)) {
      if (wait_exited(pod.path, force ? std::chrono::seconds(10) : timeout)) return;
      stop_pod_machine(info.manifest->machine_name(), true);
      if (!wait_exited(pod.path, std::chrono::seconds(10))) throw Error("it did not exit after being terminated");
      return;
    }
    pid_t pid = read_pid(pod.path);
    if (pid <= 0 || !is_pods_nspawn(pid, pod.uuid)) {
      if (wait_exited(pod.path, std::chrono::seconds(2))) return;
      throw Error("it is locked but its systemd-nspawn is not running");
    }
    // nspawn powers the pod off on the first SIGTERM and kills it on the
    // second. A pod this early in its boot would not take the first yet:
    // that wait is part of the timeout.
    auto deadline = std::chrono::steady_clock::now() + (force ? std::chrono::milliseconds(10000) : timeout);
    if (!force)
      while (!takes_orderly_stop_now(pid) && std::chrono::steady_clock::now() < deadline) {
        if (!is_pods_nspawn(pid, pod.uuid)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    if (!is_pods_nspawn(pid, pod.uuid)) {  // it ended meanwhile (its PID may be another's now)
      if (wait_exited(pod.path, std::chrono::seconds(2))) return;
      throw Error("it is locked but its systemd-nspawn is not running");
    }
    if (force) {
      // What nspawn does on a second SIGTERM: kill the pod's init (or, before
      // there is one, nspawn). Two SIGTERMs sent here could reach nspawn as
      // one, which is an orderly stop.
      std::optional<pid_t> leader = pod_leader(pid);
      ::kill(leader ? *leader : pid, SIGKILL);
    } else {
      ::kill(pid, SIGTERM);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (wait_exited(pod.path, std::max(left, std::chrono::milliseconds(0)))) return;
    ::kill(pid, SIGTERM);
    if (!wait_exited(pod.path, std::chrono::seconds(10))) throw Error("it did not exit after being killed");
  });
}

}  // namespace crt::runtime
