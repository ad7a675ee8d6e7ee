#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dbus/bus.hpp"

namespace crt::dbus {

/// One ExecStart= command line of a transient service.
struct ExecLine {
  std::string path;
  std::vector<std::string> argv;
};

/// The properties crt sets on a transient service (systemd.service(5)).
struct TransientService {
  std::string name;  ///< "crt-<uuid>.service"
  std::string description;
  std::string slice;                  ///< e.g. machine.slice
  std::string type = "simple";        ///< Type=
  std::string notify_access;          ///< NotifyAccess=, empty: systemd's default
  std::string kill_mode;              ///< KillMode=, empty: systemd's default
  bool delegate = false;              ///< Delegate=
  bool accounting = false;            ///< CPUAccounting=, MemoryAccounting=, TasksAccounting=
  bool collect = false;               ///< CollectMode=inactive-or-failed
  std::vector<ExecLine> exec_start;
  std::vector<std::string> environment;      ///< "K=V"
  std::vector<std::string> wants;            ///< Wants=
  std::vector<std::string> after;            ///< After=
  uint64_t timeout_stop_usec = 0;            ///< TimeoutStopSec=; 0: systemd's default
  /// DevicePolicy=, empty: systemd's default; with DeviceAllow= pairs
  /// (path or "char-NAME", "rwm" subset).
  std::string device_policy;
  std::vector<std::pair<std::string, std::string>> device_allow;
};

/// The properties crt sets on a transient scope (systemd.scope(5)) that
/// takes in processes it already started.
struct TransientScope {
  std::string name;  ///< "machine-crt\\x2d<uuid>.scope"
  std::string description;
  std::string slice;
  std::vector<uint32_t> pids;  ///< PIDs=: moved into the scope
  bool delegate = false;       ///< Delegate=
  bool accounting = false;     ///< CPUAccounting=, MemoryAccounting=, TasksAccounting=
  bool collect = false;        ///< CollectMode=inactive-or-failed
  /// DevicePolicy=, empty: systemd's default; with DeviceAllow= pairs
  /// (path or "char-NAME", "rwm" subset).
  std::string device_policy;
  std::vector<std::pair<std::string, std::string>> device_allow;
};

/// A unit's state as systemd reports it.
struct UnitState {
  std::string active_state;  ///< active, inactive, failed, activating …
  std::string sub_state;
  std::string result;  ///< Service.Result: success, exit-code, signal …
  uint32_t main_pid = 0;
  int32_t exec_main_status = 0;
  std::string control_group;
};

/// org.freedesktop.systemd1.Manager on the system bus.
class SystemdManager {
 public:
  explicit SystemdManager(Bus& bus) : bus_(bus) {}

  /// StartTransientUnit, then waits for the start job to finish (for
  /// Type=notify: until READY=1). Returns the job's result: "done" on success,
  /// else "failed", "timeout", "canceled", "dependency" … While it waits,
  /// `check` (if any) is called every 100 ms at most; what it throws ends the
  /// wait (the unit goes on).
  std::string start_transient_service(const TransientService& s, std::chrono::milliseconds timeout,
                                      const std::function<void()>& check = {});

  /// StartTransientUnit for a scope; waits until its processes are in it.
  /// Returns the job's result as start_transient_service() does.
  std::string start_transient_scope(const TransientScope& s, std::chrono::milliseconds timeout);

  /// StopUnit; waits for the stop job when `wait`. Returns the job's result.
  std::string stop_unit(const std::string& name, bool wait, std::chrono::milliseconds timeout);

  /// ResetFailedUnit: a failed unit is forgotten (transient ones go).
  void reset_failed_unit(const std::string& name);

  /// KillUnit: sends `signal` to `who` ("main", "control" or "all").
  void kill_unit(const std::string& name, const std::string& who, int signal);

  /// GetUnit: the unit's object path; throws if systemd has not loaded it.
  std::string get_unit(const std::string& name);

  /// The unit's ActiveState, SubState and, for services, Result, MainPID,
  /// ExecMainStatus and ControlGroup.
  UnitState unit_state(const std::string& name);
  /// unit_state(), or nothing when systemd has no unit of that name loaded;
  /// throws on any other failure.
  std::optional<UnitState> loaded_unit_state(const std::string& name);

  /// Whether service `name` runs `pid` as its main process and delegates
  /// its cgroup to it (Delegate=yes), as crt@.service does crt.
  bool delegates_to(const std::string& name, uint32_t pid);

  /// Whether service `name` limits its devices: a DevicePolicy= other than
  /// auto, or some DeviceAllow=.
  bool limits_devices(const std::string& name);

 private:
  /// GetUnit; nothing, where `none_if_not_loaded`, when systemd has no unit
  /// of that name loaded.
  std::optional<std::string> look_up_unit(const std::string& name, bool none_if_not_loaded);
  /// The state of unit `name`, whose object path is `path`.
  UnitState state_at(const std::string& name, const std::string& path);

  Bus& bus_;
};

}  // namespace crt::dbus
