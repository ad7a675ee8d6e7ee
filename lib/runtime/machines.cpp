#include "runtime/machines.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "dbus/systemd_manager.hpp"
#include "runtime/pod_systemctl.hpp"

namespace crt::runtime {

namespace {

std::optional<dbus::Bus> bus_if_systemd() {
  if (sd_booted() <= 0) return std::nullopt;
  try {
    return dbus::Bus::system();
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

namespace {

/// Whether `m` is the machine of the pod whose nspawn is `nspawn`: its
/// leader is nspawn's child, the pod's init.
bool is_pods_machine(const dbus::MachineDetails& m, pid_t nspawn) {
  std::optional<pid_t> leader = pod_leader(nspawn);
  return leader && m.leader == static_cast<uint32_t>(*leader);
}

}  // namespace

std::optional<dbus::MachineDetails> pod_machine(const std::string& machine_name, pid_t nspawn) {
  auto bus = bus_if_systemd();
  if (!bus) return std::nullopt;
  try {
    std::optional<dbus::MachineDetails> m = dbus::MachineManager(*bus).machine(machine_name);
    if (m && !is_pods_machine(*m, nspawn)) return std::nullopt;
    return m;
  } catch (const Error&) {
    return std::nullopt;  // machined not running
  }
}

namespace {

/// When process `pid` started, in clock ticks after boot (/proc/PID/stat's
/// field 22); none when there is no such process.
std::optional<unsigned long long> process_start(pid_t pid) {
  std::string stat;
  try {
    stat = fs::read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const Error&) {
    return std::nullopt;
  }
  // The command name, field 2, may hold spaces and ')': fields 3… follow the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
  return std::nullopt;
}

}  // namespace

void forget_earlier_runs_machines(dbus::MachineManager& machines, const std::string& unit,
                                  const MessageSink& messages) {
  std::vector<dbus::MachineEntry> all;
  try {
    all = machines.list_machines();
  } catch (const std::exception&) {
    return;  // no machined: the registration that follows says so
  }
  try {
    std::optional<unsigned long long> own_start = process_start(::getpid());
    if (!own_start) return;
    for (const auto& e : all) {
      if (e.service != "crt") continue;
      std::optional<dbus::MachineDetails> d = machines.machine(e.name);
      if (!d || d->unit != unit) continue;
      std::optional<unsigned long long> leader_start = process_start(static_cast<pid_t>(d->leader));
      if (leader_start && *leader_start <= *own_start) continue;  // a pod of this run of the unit
      machines.unregister_machine(e.name);
      tell(messages, "forgot machine " + quote(e.name) + " of an earlier run of " + unit +
                         " (its crt ended without unregistering it)");
    }
  } catch (const std::exception& e) {
    tell(messages, std::string("warning: forgetting the machines of an earlier run of ") + unit + ": " + e.what());
  }
}

std::vector<dbus::MachineEntry> list_machines() {
  auto bus = bus_if_systemd();
  if (!bus) return {};
  try {
    return dbus::MachineManager(*bus).list_machines();
  } catch (const Error&) {
    return {};
  }
}

bool scope_in_use(dbus::SystemdManager& sm, const std::string& scope) {
  std::optional<dbus::UnitState> st = sm.loaded_unit_state(scope);
  return st && st->active_state != "inactive" && st->active_state != "failed";
}

bool wait_scope_gone(dbus::SystemdManager& sm, const std::string& scope, std::chrono::milliseconds timeout) {
  for (auto until = std::chrono::steady_clock::now() + timeout; scope_in_use(sm, scope);) {
    if (std::chrono::steady_clock::now() > until) return false;
    ::usleep(20'000);
  }
  return true;
}

std::optional<bool> wait_scope_gone(const std::string& scope, std::chrono::milliseconds timeout) {
  auto bus = bus_if_systemd();
  if (!bus) return std::nullopt;
  dbus::SystemdManager sm(*bus);
  return wait_scope_gone(sm, scope, timeout);
}

bool stop_pod_machine(const std::string& machine_name, pid_t nspawn, bool force) {
  auto bus = bus_if_systemd();
  if (!bus) return false;
  dbus::MachineManager mm(*bus);
  try {
    std::optional<dbus::MachineDetails> m = mm.machine(machine_name);
    if (!m || !is_pods_machine(*m, nspawn)) return false;
  } catch (const Error&) {
    return false;
  }
  with_context("stopping pod machine " + quote(machine_name), [&] {
    // At once: SIGKILL to the pod's init, as nspawn does on a second
    // SIGTERM. Not TerminateMachine: it stops the machine's scope with
    // SIGTERM first, and an app that ignores SIGTERM would hold the pod for
    // its unit's stop timeout.
    if (force)
      mm.kill_machine(machine_name, "leader", SIGKILL);
    else
      mm.poweroff_machine(machine_name);
  });
  return true;
}

}  // namespace crt::runtime
