#include "pod/exit_status.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"

namespace crt::pod {

using nlohmann::json;

std::string how_it_ended(const AppExit& e) {
  if (e.exit_code.empty()) return "did not start";
  if (e.exit_code == "exited") return "exited " + e.exit_status;
  return "killed by SIG" + e.exit_status + (e.exit_code == "dumped" ? ", core dumped" : "");
}

bool hit_start_limit(const AppExit& e) { return e.result == "start-limit-hit"; }

std::string start_limit_text(const AppExit& e) {
  if (!hit_start_limit(e)) return {};
  // The restart refused was never run (app-exited does not count it).
  return "systemd's start limit stopped its restarts: " + std::to_string(e.restarts + 1) + " starts within " +
         std::to_string(kRestartLimitIntervalSec) + " s";
}

void to_json(json& j, const AppExit& e) {
  j = json{{"app", e.app},       {"exit_code", e.exit_code}, {"exit_status", e.exit_status},
           {"result", e.result}, {"status", e.status},       {"seq", e.seq}, {"restarts", e.restarts}};
  if (e.stopped_by_pod) j["stopped_by_pod"] = true;
  if (e.during_pod_stop) j["during_pod_stop"] = true;
}

void from_json(const json& j, AppExit& e) {
  j.at("app").get_to(e.app);
  j.at("exit_code").get_to(e.exit_code);
  j.at("exit_status").get_to(e.exit_status);
  j.at("result").get_to(e.result);
  j.at("status").get_to(e.status);
  j.at("seq").get_to(e.seq);
  e.restarts = j.value("restarts", uint64_t{0});
  e.stopped_by_pod = j.value("stopped_by_pod", false);
  e.during_pod_stop = j.value("during_pod_stop", false);
}

namespace {

/// Bigger than any record: an app's name has at most 63 characters, the
/// rest of a record fewer than 300.
constexpr size_t kSpareRecordSize = 1024;

std::filesystem::path spare_record(const std::filesystem::path& status_dir, const std::string& app) {
  return status_dir / (".spare-" + app);
}

}  // namespace

void make_spare_records(const std::filesystem::path& status_dir, const std::vector<std::string>& apps) {
  for (const auto& app : apps) {
    std::filesystem::path spare = spare_record(status_dir, app);
    std::error_code ec;
    if (std::filesystem::exists(spare, ec)) continue;
    fs::write_file_atomic(spare, std::string(kSpareRecordSize, ' '), 0644, fs::Durability::kCached);
  }
}

void write_app_record(const std::filesystem::path& status_dir, const AppExit& e) {
  std::filesystem::path record = status_dir / e.app;
  std::string text = json_text::dump(json(e)) + "\n";
  try {
    fs::write_file_atomic(record, text, 0644, fs::Durability::kCached);
  } catch (const Error&) {
    // Over the spare's bytes (the file system has them already), cut to
    // the record's length (which frees some), and renamed into place as a
    // new record is: no reader sees it half written.
    std::filesystem::path spare = spare_record(status_dir, e.app);
    UniqueFd fd(::open(spare.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid() || ::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
        ::ftruncate(fd.get(), static_cast<off_t>(text.size())) < 0 || ::rename(spare.c_str(), record.c_str()) < 0)
      throw;
  }
}

std::optional<int> signal_number(const std::string& name) {
  std::string n = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (int s = 1; s < NSIG; ++s) {
    const char* abbrev = sigabbrev_np(s);
    if (abbrev != nullptr && n == abbrev) return s;
  }
  for (auto [base, sign] : {std::pair<const char*, int>{"RTMIN", 1}, {"RTMAX", -1}}) {
    if (n.rfind(base, 0) != 0) continue;
    std::string_view rest = std::string_view(n).substr(5);
    int offset = 0;
    if (!rest.empty()) {
      if (rest.size() < 2 || rest[0] != (sign > 0 ? '+' : '-')) return std::nullopt;
      auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), offset);
      if (ec != std::errc() || end != rest.data() + rest.size()) return std::nullopt;
    }
    int s = (sign > 0 ? SIGRTMIN : SIGRTMAX) + sign * offset;
    if (s < SIGRTMIN || s > SIGRTMAX) return std::nullopt;
    return s;
  }
  return std::nullopt;
}

AppExit app_exit_from_systemd(const std::string& app, const char* exit_code, const char* exit_status,
                              const char* service_result, uint64_t seq) {
  AppExit e;
  e.app = app;
  e.exit_code = exit_code != nullptr ? exit_code : "";
  e.exit_status = exit_status != nullptr ? exit_status : "";
  e.result = service_result != nullptr ? service_result : "";
  e.seq = seq;
  int n = 0;
  const std::string& st = e.exit_status;
  auto [p, ec] = std::from_chars(st.data(), st.data() + st.size(), n);
  if (e.exit_code == "exited" && ec == std::errc() && p == st.data() + st.size()) {
    e.status = n;
  } else if (auto sig = signal_number(st); sig && (e.exit_code == "killed" || e.exit_code == "dumped")) {
    e.status = 128 + *sig;
  } else if (e.exit_code.empty()) {
    // The app never ran (a dependency, prepare-app, or a resource of its
    // unit failed): the pod's machinery failed, crt's own failure.
    e.status = e.result == "success" ? 0 : kErrorExitCode;
  } else {
    e.status = e.result == "success" ? 0 : 1;  // an end systemd words as crt does not know
  }
  // Its last run may have ended well (an app of --restart=always that
  // exits 0 at once): the pod still could not keep it running as asked,
  // which is no success. As for an app that did not start, the status is
  // crt's own failure's.
  if (hit_start_limit(e) && e.status == 0) e.status = kErrorExitCode;
  return e;
}

AppExit app_exit_from_unit(const std::string& app, int exec_main_code, int exec_main_status, const std::string& result,
                           uint64_t seq) {
  // As systemd words $EXIT_CODE and $EXIT_STATUS.
  const char* code = exec_main_code == CLD_EXITED   ? "exited"
                     : exec_main_code == CLD_KILLED ? "killed"
                     : exec_main_code == CLD_DUMPED ? "dumped"
                                                    : nullptr;
  std::string status = std::to_string(exec_main_status);
  if (exec_main_code == CLD_KILLED || exec_main_code == CLD_DUMPED) {
    if (const char* name = sigabbrev_np(exec_main_status))
      status = name;
    else if (exec_main_status >= SIGRTMIN && exec_main_status <= SIGRTMAX)
      status = "RTMIN+" + std::to_string(exec_main_status - SIGRTMIN);  // as systemd names them
  }
  return app_exit_from_systemd(app, code, code != nullptr ? status.c_str() : nullptr, result.c_str(), seq);
}

bool is_exit_policy(const std::string& policy) {
  return policy == "on-any-failure" || policy == "on-any-exit" || policy == "on-all-exit";
}

PodAction decide(const std::string& policy, const std::vector<std::string>& apps, const std::vector<AppExit>& exits,
                 const AppExit& latest) {
  bool all = std::all_of(apps.begin(), apps.end(), [&](const std::string& a) {
    return std::any_of(exits.begin(), exits.end(), [&](const AppExit& e) { return e.app == a; });
  });
  if (all) return PodAction::kFinish;
  if (policy == "on-any-exit") return PodAction::kStopOthers;
  if (policy == "on-any-failure" && latest.status != 0) return PodAction::kStopOthers;
  return PodAction::kContinue;
}

const AppExit* first_failure(const std::vector<AppExit>& exits) {
  const AppExit* first = nullptr;
  for (const auto& e : exits)
    if (e.status != 0 && !e.stopped_by_pod && (first == nullptr || e.seq < first->seq)) first = &e;
  return first;
}

int pod_exit_status(const std::vector<AppExit>& exits) {
  const AppExit* first = first_failure(exits);
  return first != nullptr ? first->status : 0;
}

}  // namespace crt::pod
