#include "runtime/host.hpp"

#include <fcntl.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "cgroup/device_filter.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "dbus/bus.hpp"
#include "dbus/systemd_manager.hpp"
#include "runtime/app_process.hpp"

namespace crt::runtime {

namespace {

/// crt's cgroup in the hierarchy systemd tracks units in: the unified one
/// ("0::") on cgroup-v2 hosts, name=systemd on hybrid and legacy ones. As
/// the mounted hierarchies say (`unified_only`): a container of a hybrid
/// host booted with the unified one alone still lists the host's v1
/// hierarchies here.
std::string own_cgroup(bool unified_only) {
  std::string unified;
  for (const auto& c : cgroup::own_cgroups()) {
    if (!unified_only && c.controllers == std::vector<std::string>{"name=systemd"}) return c.path;
    if (c.v2()) unified = c.path;
  }
  return unified;
}

/// The controllers a cgroup.subtree_control file enables.
std::set<std::string> controllers_in(const std::filesystem::path& subtree_control) {
  std::vector<std::string> names = words(fs::read_file(subtree_control));
  return {names.begin(), names.end()};
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.front() == '/') s.erase(s.begin());
  return s;
}

}  // namespace

bool is_service_unit(const std::string& unit) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return unit.size() > s.size() && unit.compare(unit.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".service") && unit.rfind("user@", 0) != 0;
}

HostMode detect_host() {
  HostMode h;
  h.systemd = sd_booted() > 0;
  h.layout = cgroup::detect_layout();
  h.unified = h.layout.unified();
  if (!h.systemd) return h;
  char* unit = nullptr;
  if (sd_pid_get_unit(0, &unit) >= 0 && unit != nullptr) {
    h.unit = unit;
    std::free(unit);
  }
  // Only a service that runs crt itself and delegates its cgroup is the
  // pod's: not one that merely has crt among its processes (cron's, a CI
  // runner's), where each pod would take the same "payload" cgroup in a
  // cgroup systemd manages. Those pods get a scope each, as from a
  // terminal.
  if (is_service_unit(h.unit)) {
    try {
      dbus::Bus bus = dbus::Bus::system();
      dbus::SystemdManager sm(bus);
      h.in_unit = sm.delegates_to(h.unit, static_cast<uint32_t>(::getpid()));
      try {
        h.unit_limits_devices = h.in_unit && sm.limits_devices(h.unit);
      } catch (const Error&) {
        // Unknown: taken as none, which only adds a warning.
      }
    } catch (const Error&) {
      h.in_unit = false;
    }
  }
  h.cgroup = strip_slash(own_cgroup(h.unified));
  return h;
}

std::string boot_id() { return trim_end(fs::read_file("/proc/sys/kernel/random/boot_id"), "\n"); }

std::string payload_cgroup(const HostMode& host, const std::string& machine_name) {
  std::string base = host.in_unit && !host.cgroup.empty() ? host.cgroup : cgroup::PodCgroup::relative_path(machine_name);
  return base + "/payload";
}

UnitCgroupRoot::UnitCgroupRoot(const HostMode& host) {
  if (!host.in_unit || host.cgroup.empty() || !host.unified) return;
  std::filesystem::path root = host.layout.hierarchies.at(0).mount_point / host.cgroup;
  std::filesystem::path dir = root / "supervisor";
  with_context("moving crt into " + quote(dir.string()), [&] {
    before_ = controllers_in(root / "cgroup.subtree_control");
    fs::make_dirs(dir);
    UniqueFd fd = fs::open_fd(dir / "cgroup.procs", O_WRONLY);
    std::string self = std::to_string(::getpid());
    if (::write(fd.get(), self.data(), self.size()) < 0) throw_errno("writing cgroup.procs");
  });
  dir_ = root;
}

std::optional<std::string> UnitCgroupRoot::restore() noexcept {
  if (dir_.empty()) return std::nullopt;
  std::filesystem::path dir = std::exchange(dir_, {});
  try {
    std::string off;
    for (const auto& c : controllers_in(dir / "cgroup.subtree_control"))
      if (before_.count(c) == 0) off += (off.empty() ? "-" : " -") + c;
    if (off.empty()) return std::nullopt;
    UniqueFd fd = fs::open_fd(dir / "cgroup.subtree_control", O_WRONLY);
    if (::write(fd.get(), off.data(), off.size()) < 0) return "writing " + quote(off) + ": " + std::strerror(errno);
    return std::nullopt;
  } catch (const std::exception& e) {
    return e.what();
  }
}

cgroup::CgroupEntry nspawn_start_cgroup(const HostMode& host) {
  cgroup::CgroupEntry e;
  if (!host.in_unit || host.cgroup.empty()) return e;
  if (!host.layout.unified()) return e;
  std::filesystem::path dir = host.layout.hierarchies[0].mount_point / host.cgroup;
  with_context("opening the cgroup of unit " + quote(host.unit), [&] {
    e.v2_dir = fs::open_fd(dir, O_PATH | O_DIRECTORY);
    e.v2_procs = fs::open_fd(dir / "cgroup.procs", O_WRONLY);
  });
  return e;
}

void restrict_pod_devices(const HostMode& host, const cgroup::PodCgroup& cg, const MessageSink& messages) {
  if (!host.unified) return;  // the pod's systemd has the v1 devices controller
  try {
    UniqueFd dir = fs::open_fd(cg.paths().at(0), O_RDONLY | O_DIRECTORY);
    cgroup::attach_device_filter(dir.get(), cgroup::pod_device_rules());
  } catch (const Error& e) {
    tell(messages, std::string("warning: ") + e.what() + ": nothing keeps the pod's apps from the host's devices");
  }
}

void warn_of_missing_controllers(pid_t leader, const pod::PodManifest& m, const MessageSink& messages) {
  struct Need {
    const char* controller;
    const char* options;
    bool asked = false;
  } needs[] = {{"memory", "--memory (MemoryMax=)"},
               {"cpu", "--cpu and --cpu-shares (CPUQuota=, CPUShares=)"},
               {"pids", "--pids-limit (TasksMax=)"}};
  for (const auto& a : m.apps) {
    needs[0].asked = needs[0].asked || a.memory_max.has_value();
    needs[1].asked = needs[1].asked || a.cpu_millis.has_value() || a.cpu_shares.has_value();
    needs[2].asked = needs[2].asked || a.pids_limit.has_value();
  }
  if (std::none_of(std::begin(needs), std::end(needs), [](const Need& n) { return n.asked; })) return;
  try {
    if (!cgroup::detect_layout().unified()) return;  // v1: the pod's systemd has the hierarchies bound in
    for (const auto& c : cgroups_of(leader)) {
      size_t payload = c.dir.find("/payload");
      if (!c.v2 || payload == std::string::npos) continue;
      std::string available = " " + fs::read_file(c.dir.substr(0, payload + 8) + "/cgroup.controllers");
      std::replace(available.begin(), available.end(), '\n', ' ');
      for (const auto& n : needs)
        if (n.asked && available.find(" " + std::string(n.controller) + " ") == std::string::npos)
          tell(messages, std::string("warning: the host gives the pod no ") + n.controller +
                             " controller: " + n.options + " will not be kept");
    }
  } catch (const Error&) {
    // The pod ended meanwhile: nothing to say.
  }
}

}  // namespace crt::runtime
