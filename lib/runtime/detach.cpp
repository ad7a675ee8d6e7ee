#include "runtime/detach.hpp"

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "dbus/systemd_manager.hpp"
#include "net/pod_network.hpp"
#include "pod/units.hpp"
#include "runtime/nspawn.hpp"
#include "runtime/pods.hpp"
#include "runtime/remove.hpp"
#include "runtime/service_progress.hpp"
#include "runtime/signals.hpp"

namespace crt::runtime {

namespace {

std::filesystem::path own_binary() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("finding crt's own binary: " + ec.message());
  return p;
}

void require_systemd_host() {
  if (sd_booted() <= 0)
    throw Error("--detach needs a host running systemd: the pod runs as one of its services");
}

/// After Ctrl-C: the pod's service is stopped (the pod gracefully, as by
/// `systemctl stop`), or killed if it will not stop, and then forgotten.
void stop_started_unit(dbus::SystemdManager& sm, const std::string& unit, const MessageSink& messages) {
  bool stopped = false;
  try {
    stopped = sm.stop_unit(unit, true, std::chrono::seconds(90)) == "done";
  } catch (const Error& e) {
    tell(messages, std::string("warning: ") + e.what());
  }
  if (!stopped) {
    try {
      sm.kill_unit(unit, "all", SIGKILL);
    } catch (const Error& e) {
      tell(messages, std::string("warning: ") + e.what());
    }
  }
  try {
    sm.reset_failed_unit(unit);
  } catch (const Error&) {
    // Not failed: gone already.
  }
}

/// ": the service is failed (exit-code, status 1)": how the service ended,
/// if systemd still knows.
std::string how_it_ended(dbus::SystemdManager& sm, const std::string& unit) {
  try {
    dbus::UnitState st = sm.unit_state(unit);
    std::string s = ": the service is " + st.active_state;
    std::vector<std::string> why;
    if (!st.result.empty() && st.result != "success") why.push_back(st.result);
    if (st.exec_main_status != 0) why.push_back("status " + std::to_string(st.exec_main_status));
    for (size_t i = 0; i < why.size(); ++i) s += (i == 0 ? " (" : ", ") + why[i];
    return why.empty() ? s : s + ")";
  } catch (const Error&) {
    return {};
  }
}

/// The last error crt wrote in `unit` since `since_usec` (CLOCK_REALTIME),
/// from the host's journal: "crt: …" without the "crt: ". Empty if there is
/// none (yet: journald is given a second to take it).
std::string last_crt_error(const std::string& unit, uint64_t since_usec) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    sd_journal* j = nullptr;
    if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM) < 0) return {};
    std::string found;
    if (sd_journal_add_match(j, ("_SYSTEMD_UNIT=" + unit).c_str(), 0) >= 0 && sd_journal_seek_tail(j) >= 0) {
      for (int n = 0; n < 200 && found.empty() && sd_journal_previous(j) > 0; ++n) {
        uint64_t at = 0;
        if (sd_journal_get_realtime_usec(j, &at) < 0 || at < since_usec) break;
        const void* data = nullptr;
        size_t len = 0;
        if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0) continue;
        std::string_view m(static_cast<const char*>(data), len);
        m.remove_prefix(std::min(m.size(), sizeof "MESSAGE=" - 1));
        if (m.rfind("crt: ", 0) == 0 && m.rfind("crt: warning: ", 0) != 0) found = m.substr(5);
      }
    }
    sd_journal_close(j);
    if (!found.empty()) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return {};
}

/// Has the host's systemd run the prepared pod `uuid` and waits until it is
/// ready. Interrupted (Ctrl-C), it stops the service again before it throws;
/// the caller blocks the signals (SignalBlock).
void start_detached(dbus::Bus& bus, const std::string& uuid, const LaunchOptions& opts, const RunContext& ctx) {
  std::string unit = detached_unit_name(uuid);
  std::string crt = own_binary().string();
  dbus::TransientService s;
  s.name = unit;
  s.description = "crt pod " + uuid;
  s.slice = "machine.slice";
  s.type = "notify";
  s.notify_access = "main";
  s.kill_mode = "mixed";
  s.delegate = true;
  s.accounting = true;
  s.device_policy = "closed";
  s.device_allow = pod::host_unit_devices(true);
  // As the pod units: gc removes the exited pod the service leaves, and
  // systemd does not kill crt before crt's own stop timeout has run out.
  s.wants = {"crt-gc.timer"};
  // At shutdown the pod stops before the bus and machined it unregisters with.
  s.after = {"dbus.service", "systemd-machined.service"};
  s.timeout_stop_usec = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(opts.stop_timeout + cleanup_time(opts.plugin_time_limit))
          .count());
  std::vector<std::string> argv = {crt, "--dir=" + std::filesystem::absolute(ctx.state_dir).string(),
                                   "--local-config=" + std::filesystem::absolute(ctx.config_dir).string(), "run-prepared"};
  if (opts.debug) argv.emplace_back("--debug");
  if (opts.remove) argv.emplace_back("--rm");
  if (opts.stop_timeout != pod::kDefaultStopTimeout)
    argv.push_back("--stop-timeout=" + std::to_string(opts.stop_timeout.count()) + "ms");
  if (opts.plugin_time_limit != net::kPluginTimeLimit)
    argv.push_back("--plugin-time-limit=" + std::to_string(opts.plugin_time_limit.count()) + "ms");
  argv.push_back(uuid);
  s.exec_start.push_back({crt, argv});
  dbus::SystemdManager sm(bus);
  // An earlier detached start of this pod that failed left its service
  // failed (for systemctl status to say why): forgotten now, or the new
  // one could not be made.
  try {
    sm.reset_failed_unit(unit);
  } catch (const Error&) {
    // None: the usual case.
  }
  std::string result;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  uint64_t started_usec = static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
  try {
    result = sm.start_transient_service(s, std::chrono::minutes(3), check_interrupted);
  } catch (const Interrupted&) {
    stop_started_unit(sm, unit, ctx.messages);
    throw;
  } catch (const Error& e) {
    // The job did not end (a timeout, the bus gone): its service may still
    // start the pod, which the caller removes.
    stop_started_unit(sm, unit, ctx.messages);
    throw e.with_context("starting pod " + uuid);
  }
  if (result != "done") {
    std::string why = last_crt_error(unit, started_usec);
    throw Error("pod " + uuid + " did not start: job of " + quote(unit) + " " + result + how_it_ended(sm, unit) +
                (why.empty() ? "" : ": " + why) + "; see 'journalctl -u " + unit + "'");
  }
}

/// Pod `uuid` after its detached start failed or was given up: none where
/// the service's crt run-prepared --rm (`removed_at_end`) has removed it, as
/// asked (also while this looks); else as find_pod() finds it, or says what
/// became of it.
std::optional<PodEntry> pod_left_by_start(const std::filesystem::path& state_dir, const std::string& uuid,
                                          bool removed_at_end) {
  if (!removed_at_end) return find_pod(state_dir, uuid);
  std::vector<PodEntry> pods = list_pods(state_dir);
  auto e = std::find_if(pods.begin(), pods.end(), [&](const PodEntry& p) { return p.uuid == uuid; });
  if (e == pods.end()) return std::nullopt;
  return *e;
}

}  // namespace

std::string detached_unit_name(const std::string& uuid) { return "crt-" + uuid + ".service"; }

std::string run_detached(const pod::RunRequest& req, const RunContext& ctx) {
  require_systemd_host();
  check_nspawn_installed();
  SignalBlock signals;
  // Connect first: without a bus there is no point preparing the pod.
  dbus::Bus bus = dbus::Bus::system();
  std::string uuid = prepare_only(req, ctx);
  try {
    start_detached(bus, uuid, launch_options(req.pod), ctx);
  } catch (const Interrupted&) {
    // The user gave up on a pod they never saw: it goes, like a pod whose
    // crt run was interrupted. At once: a pod its service is still starting
    // stays, said so (remove_pod() would wait for it, the user's ^C not).
    try {
      std::optional<PodEntry> e = pod_left_by_start(ctx.state_dir, uuid, req.pod.remove);
      if (e && !try_remove_pod(ctx.state_dir, *e, {false, ctx.messages})) throw Error("it is in use");
    } catch (const Error& e) {
      tell(ctx.messages, "warning: removing pod " + uuid + ": " + e.what());
    }
    throw;
  } catch (const Error&) {
    // A start that failed before the pod ran (a host port taken, a
    // network's plugin failing) left it prepared: it goes, as after a crt
    // run that failed, or its name and images would stay taken. A pod that
    // ran stays, exited, for crt status to say how it ended (unless its
    // crt run-prepared --rm has removed it).
    try {
      std::optional<PodEntry> e = pod_left_by_start(ctx.state_dir, uuid, req.pod.remove);
      if (e && e->status() == PodStatus::kPrepared) remove_pod(ctx.state_dir, *e, {false, ctx.messages});
    } catch (const Error& e) {
      tell(ctx.messages, "warning: removing pod " + uuid + ": " + e.what());
    }
    throw;
  }
  return uuid;
}

std::string run_prepared_detached(const std::string& ref, const LaunchOptions& opts, const RunContext& ctx) {
  require_systemd_host();
  check_nspawn_installed();
  PodEntry e = find_pod(ctx.state_dir, ref);
  if (e.status() != PodStatus::kPrepared)
    throw Error("pod " + e.uuid + " is " + status_name(e.status()) + ", not prepared");
  dbus::Bus bus = dbus::Bus::system();
  SignalBlock signals;
  start_detached(bus, e.uuid, opts, ctx);
  return e.uuid;
}

}  // namespace crt::runtime
