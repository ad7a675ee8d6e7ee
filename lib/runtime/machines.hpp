#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/message.hpp"
#include "dbus/machine_manager.hpp"
#include "dbus/systemd_manager.hpp"

namespace crt::runtime {

/// What `crt stop` and `crt list` ask systemd-machined about pods. Each
/// returns "nothing" (nullopt, empty, false) when the host runs no systemd or
/// machined does not answer, so callers fall back to the pod directory and
/// nspawn's PID.

/// The machine of a running pod (its manifest's machine_name()) whose
/// nspawn is `nspawn`: none if the machine of that name is another's (a
/// container, a pod of another --dir) whose name this pod could not take.
std::optional<dbus::MachineDetails> pod_machine(const std::string& machine_name, pid_t nspawn);

/// Every machine machined knows; crt's pods are those named by a pod's
/// manifest (machine_name()).
std::vector<dbus::MachineEntry> list_machines();

/// Forgets (UnregisterMachine) the pods machined still lists in the host's
/// unit `unit`, crt's own, whose init is gone or started after crt did (its
/// PID another process's): those of an earlier run of the unit whose crt was
/// killed before it could unregister them. machined keeps a machine while
/// its unit lives, and a unit that restarts never ends: the dead pod stayed
/// listed, and took the name of the next (a pod file's Name=). Each one
/// forgotten is told to `messages`; what fails is a warning there, but for
/// a machined that does not answer at all (registering will say so).
void forget_earlier_runs_machines(dbus::MachineManager& machines, const std::string& unit, const MessageSink& messages);

/// Stops a running pod through machined: gracefully (`machinectl poweroff`:
/// the pod's systemd stops every app with SIGTERM, then exits), or at once
/// (`force`: SIGKILL to the pod's init, `machinectl kill --kill-whom=leader
/// --signal=KILL`). Returns false when machined does not know the machine
/// as the pod of nspawn `nspawn` (see pod_machine()); throws crt::Error
/// when machined refuses.
bool stop_pod_machine(const std::string& machine_name, pid_t nspawn, bool force);

/// Whether the host's systemd still has scope `scope`: loaded, and neither
/// inactive nor failed (a failed scope is collected). A scope systemd does
/// not know is not; throws crt::Error when systemd cannot be asked.
bool scope_in_use(dbus::SystemdManager& sm, const std::string& scope);

/// Waits until scope_in_use() is false, `timeout` at most; false if it
/// is still in use. Throws as scope_in_use() does.
bool wait_scope_gone(dbus::SystemdManager& sm, const std::string& scope, std::chrono::milliseconds timeout);
/// The same on a connection of its own: nullopt where there is no host
/// systemd to ask (none runs, or its bus cannot be reached).
std::optional<bool> wait_scope_gone(const std::string& scope, std::chrono::milliseconds timeout);

}  // namespace crt::runtime
