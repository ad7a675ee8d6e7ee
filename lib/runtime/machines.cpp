#include "runtime/machines.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/error.hpp"
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
