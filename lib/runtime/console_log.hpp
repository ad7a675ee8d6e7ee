#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crt::runtime {

/// The lines of what the pod's console showed (nspawn.log): without the
/// escape sequences a terminal acts on (the pod's systemd colours its
/// errors) and the CRs of its line ends.
std::vector<std::string> console_lines(std::string_view console);

/// The pod's systemd's lines about unit `unit` ("UNIT: …"), as
/// console_lines() gives them. Before the pod's journald is up, and from a
/// child of its systemd that cannot reach it, they are on the console only.
std::vector<std::string> console_lines_about(std::string_view console, std::string_view unit);

/// Whether `line`, a pod systemd's line about an app's unit, says again
/// what an earlier line of `earlier` said: PID 1's "Failed at step EXEC
/// spawning X: E" after the app's own "Failed to execute X: E".
bool repeats_exec_failure(std::string_view line, const std::vector<std::string>& earlier);

/// The last lines of the console that are not empty, as console_lines()
/// gives them, joined by "\n": as many as fit in `max_bytes`, and at
/// least one.
std::string console_tail(std::string_view console, size_t max_bytes);

}  // namespace crt::runtime
