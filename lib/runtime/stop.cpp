#include "runtime/stop.hpp"

#include <fcntl.h>
#include <signal.h>

#include <charconv>
#include <iterator>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "runtime/app_process.hpp"
#include "runtime/pod_systemctl.hpp"
#include "runtime/machines.hpp"

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

/// Whether the pod of nspawn `nspawn` takes an orderly stop (or nspawn is
/// gone). Until nspawn has started the pod's init (the PID 1 of a namespace
/// of its own), nspawn's child is its helper, not the init.
bool takes_orderly_stop_now(pid_t nspawn, const std::string& uuid) {
  if (!is_pods_nspawn(nspawn, uuid)) return true;
  std::optional<pid_t> child = pod_leader(nspawn);
  if (!child) return false;
  std::istringstream ns(proc_status(*child)["NSpid"]);
  std::vector<std::string> ids{std::istream_iterator<std::string>(ns), std::istream_iterator<std::string>()};
  return ids.size() > 1 && ids.back() == "1" && takes_orderly_stop(*child);
}

}  // namespace

void stop_pod(const PodEntry& pod, bool force, std::chrono::milliseconds timeout) {
  with_context("stopping pod " + pod.uuid, [&] {
    if (pod.status() != PodStatus::kRunning) throw Error("it is " + std::string(status_name(pod.status())));
    // On a systemd host the pod is a machine: machined stops it the way
    // machinectl does, whoever started it (a terminal, crt@.service, …).
    PodInfo info = pod_info(pod);
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
    // second. A pod this early in its boot would not take the first yet.
    if (!force) {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!takes_orderly_stop_now(pid, pod.uuid) && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGTERM);
    if (force) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ::kill(pid, SIGTERM);
    }
    if (wait_exited(pod.path, force ? std::chrono::seconds(10) : timeout)) return;
    ::kill(pid, SIGTERM);
    if (!wait_exited(pod.path, std::chrono::seconds(10))) throw Error("it did not exit after being killed");
  });
}

}  // namespace crt::runtime
