#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace crt::pod {

/// systemd's start limit of an app that is restarted (--restart): at most
/// this many starts within kRestartLimitIntervalSec seconds; a restart past
/// it fails the unit with the result "start-limit-hit".
inline constexpr int kRestartLimitBurst = 5;
inline constexpr int kRestartLimitIntervalSec = 10;

/// How an app ended, as systemd reported it to the app's OnSuccess=/OnFailure= unit.
struct AppExit {
  std::string app;
  std::string exit_code;    ///< systemd's $EXIT_CODE: exited, killed, dumped (empty: never ran)
  std::string exit_status;  ///< systemd's $EXIT_STATUS: a number or a signal name
  std::string result;       ///< systemd's $SERVICE_RESULT
  int status = 0;           ///< shell-style: the exit status, or 128 + signal number
  uint64_t seq = 0;         ///< CLOCK_BOOTTIME ns when recorded, orders apps' exits
  uint64_t restarts = 0;    ///< how often systemd restarted the app (Restart=)
  /// It ended as the pod's exit policy stopped it, after another app's end,
  /// or as the pod was killed (crt stop --force, a stop that timed out):
  /// how it ended then is no failure of its own.
  bool stopped_by_pod = false;
  /// It ended, by a signal or an exit status past 128, while the pod's
  /// systemd was shutting down and not by the exit policy (crt stop,
  /// machinectl poweroff): as a stop ends an app.
  bool during_pod_stop = false;
};

/// How the app's (last) run ended, for messages: "exited 1", "killed by
/// SIGTERM", "killed by SIGSEGV, core dumped", "did not start".
std::string how_it_ended(const AppExit& e);

/// systemd stopped restarting the app at its start limit: the pod could
/// not keep it running as its --restart asked.
[[nodiscard]] bool hit_start_limit(const AppExit& e);

/// "systemd's start limit stopped its restarts: 5 starts within 10 s", for
/// an app that hit_start_limit(); else empty.
std::string start_limit_text(const AppExit& e);

void to_json(nlohmann::json& j, const AppExit& e);
void from_json(const nlohmann::json& j, AppExit& e);

/// Makes, in the pod's status directory `status_dir`, a spare record for
/// each of `apps` that has none: a file of spaces, as big as a record gets,
/// named ".spare-APP" (no record: app names hold no dot). An app that fills
/// the disk the pod's state is on (its rootfs's upper layer is there) leaves
/// no room for a new file when it ends: its record is then written over its
/// spare (write_app_record), so crt still knows how it ended.
void make_spare_records(const std::filesystem::path& status_dir, const std::vector<std::string>& apps);

/// Writes `e` as its app's record in `status_dir`: a new file renamed into
/// place, or where that fails (no room for it), the app's spare, written
/// over and renamed into place. Throws the first failure where there is no
/// spare left, or that fails too.
void write_app_record(const std::filesystem::path& status_dir, const AppExit& e);

/// Builds an AppExit from systemd's $MONITOR_EXIT_CODE, $MONITOR_EXIT_STATUS and
/// $MONITOR_SERVICE_RESULT.
AppExit app_exit_from_systemd(const std::string& app, const char* exit_code, const char* exit_status,
                              const char* service_result, uint64_t seq);

/// Builds an AppExit from the app unit's properties as `systemctl show`
/// gives them: ExecMainCode (a CLD_* code; 0 when its process never ran),
/// ExecMainStatus (an exit status or a signal number) and Result.
AppExit app_exit_from_unit(const std::string& app, int exec_main_code, int exec_main_status, const std::string& result,
                           uint64_t seq);

/// What the pod does after an app has exited.
enum class PodAction {
  kContinue,    ///< other apps keep running
  kStopOthers,  ///< stop the remaining apps gracefully, then end
  kFinish,      ///< every app has exited: end now
};

/// Exit policies: "on-any-failure" (end when any app fails or all exited),
/// "on-any-exit", "on-all-exit".
bool is_exit_policy(const std::string& policy);

/// Decides per `policy` after `latest` exited; `exits` holds every app's
/// record so far (including `latest`).
PodAction decide(const std::string& policy, const std::vector<std::string>& apps, const std::vector<AppExit>& exits,
                 const AppExit& latest);

/// The first app to fail (by `seq`; one the pod stopped does not count), or
/// nullptr: the app whose status is crt run's.
const AppExit* first_failure(const std::vector<AppExit>& exits);

/// crt run's exit status: first_failure's, else 0.
int pod_exit_status(const std::vector<AppExit>& exits);

/// A signal number from a name like "TERM", "SIGTERM" or "RTMIN+3" (as
/// systemd names real-time signals); nullopt if unknown.
std::optional<int> signal_number(const std::string& name);

}  // namespace crt::pod
