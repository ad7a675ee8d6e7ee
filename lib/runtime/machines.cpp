#include "runtime/machines.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>

#include "common/error.hpp"

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

std::optional<dbus::MachineDetails> pod_machine(const std::string& machine_name) {
  auto bus = bus_if_systemd();
  if (!bus) return std::nullopt;
  try {
    return dbus::MachineManager(*bus).machine(machine_name);
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

bool stop_pod_machine(const std::string& machine_name, bool force) {
  auto bus = bus_if_systemd();
  if (!bus) return false;
  dbus::MachineManager mm(*bus);
  std::optional<std::string> path;
  try {
    path = mm.get_machine(machine_name);
  } catch (const Error&) {
    return false;
  }
  if (!path) return false;
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
