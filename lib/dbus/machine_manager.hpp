#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dbus/bus.hpp"

namespace crt::dbus {

/// A machine as ListMachines reports it.
struct MachineEntry {
  std::string name;
  std::string klass;    ///< "container"
  std::string service;  ///< who registered it: "crt" for pods
  std::string object_path;
};

/// A machine's properties (org.freedesktop.machine1.Machine).
struct MachineDetails {
  std::string name;
  std::string klass;
  std::string service;
  std::string unit;   ///< the scope or service the machine runs in
  std::string state;  ///< opening, running, closing
  std::string root_directory;
  uint32_t leader = 0;  ///< host PID of the machine's init
};

/// What RegisterMachine records about a machine whose unit exists already.
struct MachineRegistration {
  std::string name;     ///< "crt-<uuid>"
  std::string uuid;     ///< the machine's id, "01234567-89ab-…" or 32 hex digits
  std::string service;  ///< who runs it: "crt"
  uint32_t leader = 0;  ///< host PID of the machine's init; its unit becomes the machine's
  std::string root_directory;
};

/// org.freedesktop.machine1.Manager on the system bus.
class MachineManager {
 public:
  explicit MachineManager(Bus& bus) : bus_(bus) {}

  std::vector<MachineEntry> list_machines();
  /// GetMachine: the machine's object path, or nullopt when there is no
  /// machine of that name.
  std::optional<std::string> get_machine(const std::string& name);
  /// The machine's properties; nullopt when there is no such machine.
  std::optional<MachineDetails> machine(const std::string& name);
  /// RegisterMachine (class container): machined takes the unit the leader
  /// runs in as the machine's, creating none.
  void register_machine(const MachineRegistration& m);
  /// UnregisterMachine: forgets the machine without touching its processes.
  /// A machine that is gone already is no error.
  void unregister_machine(const std::string& name);
  /// KillMachine: sends `signal` to "leader" or "all".
  void kill_machine(const std::string& name, const std::string& who, int signal);
  /// What `machinectl poweroff` does: SIGRTMIN+4 to the machine's init, which
  /// stops every unit (apps get SIGTERM) and powers the machine off.
  void poweroff_machine(const std::string& name);

 private:
  Bus& bus_;
};

}  // namespace crt::dbus
