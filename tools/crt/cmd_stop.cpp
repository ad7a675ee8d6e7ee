// crt stop, crt rm and crt gc: ending pods and cleaning up after them.

#include <fcntl.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/stop_signal.hpp"
#include "net/pod_network.hpp"
#include "pod/run_args.hpp"
#include "runtime/crt_death_watch.hpp"
#include "runtime/pods.hpp"
#include "runtime/remove.hpp"
#include "runtime/signals.hpp"
#include "runtime/stop.hpp"
#include "store/progress.hpp"

namespace crt::cli {

namespace {

/// Runs `action` on each pod, reporting failures one line each; the exit
/// status is 254 if any failed.
template <typename F>
void for_each_pod(const GlobalOptions& g, const std::vector<std::string>& refs, const std::string& uuid_file,
                  int& exit_status, F&& action) {
  std::vector<PodRef> all;
  for (const auto& r : refs) all.push_back({r, ""});
  if (!uuid_file.empty()) all.push_back({"", uuid_file});
  if (all.empty()) throw Error("no pod given (POD… or --uuid-file)");
  for (const auto& ref : all) {
    // Told to stop (StopSignalsNoted): after the pod at hand.
    if (int sig = pending_stop_signal(); sig != 0) throw runtime::Interrupted(sig);
    try {
      runtime::PodEntry e = with_pod_ref(ref, [&](const std::string& pod) { return runtime::find_pod(g.dir, pod); });
      action(e);
      std::printf("%s\n", e.uuid.c_str());
    } catch (const Error& err) {
      print_error(err.what());
      exit_status = kErrorExitCode;
    }
  }
}

void add_stop(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  struct Args {
    std::vector<std::string> pods;
    std::string uuid_file;
    bool force = false;
    std::string timeout;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("stop", "Stop running pods gracefully");
  cmd->add_option("POD", a->pods, "Pods: UUIDs, unique prefixes or names");
  cmd->add_option("--uuid-file", a->uuid_file, "Read the pod's UUID from this file");
  cmd->add_flag("-f,--force", a->force, "Kill the pod at once instead of stopping its apps");
  cmd->add_option("--timeout", a->timeout,
                  "Kill what still runs after this long (seconds, or 30s, 2m …; 0: at once); default: the pod's own "
                  "--stop-timeout (20s unless its run said otherwise)")
      ->type_name("DURATION");
  cmd->callback([a, &g, &exit_status] {
    require_root("crt stop");
    std::optional<std::chrono::milliseconds> timeout;
    if (!a->timeout.empty()) timeout = with_context("--timeout", [&] { return parse_duration(a->timeout); });
    // A stop cut short would leave the pod at hand stopping with no one to
    // kill it after its timeout, and the pods stopped unsaid.
    StopSignalsNoted finish_the_pod_at_hand;
    for_each_pod(g, a->pods, a->uuid_file, exit_status,
                 [&](const runtime::PodEntry& e) { runtime::stop_pod(e, a->force, timeout); });
    if (int sig = pending_stop_signal(); sig != 0) throw runtime::Interrupted(sig);
  });
}

void add_rm(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  struct Args {
    std::vector<std::string> pods;
    std::string uuid_file;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("rm", "Remove pods that are not running, and all they left behind");
  cmd->add_option("POD", a->pods, "Pods: UUIDs, unique prefixes or names");
  cmd->add_option("--uuid-file", a->uuid_file, "Read the pod's UUID from this file");
  cmd->add_flag("-f,--force", a->force,
                "Remove the pod also when a network's plugin fails to tear its part down (a warning says what may "
                "stay: an address lease, say)");
  cmd->callback([a, &g, &exit_status] {
    require_root("crt rm");
    StopSignalsNoted finish_the_pod_at_hand;
    for_each_pod(g, a->pods, a->uuid_file, exit_status, [&](const runtime::PodEntry& e) {
      runtime::remove_pod(g.dir, e, {a->force, print_message});
    });
    if (int sig = pending_stop_signal(); sig != 0) throw runtime::Interrupted(sig);
  });
}

void add_gc(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  struct Args {
    std::string grace = "30m";
    std::string expire_prepared = "24h";
    bool mark_only = false;
    std::optional<std::string> plugin_time_limit;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("gc", "Remove exited pods after a grace period, and what dead pods left");
  cmd->add_option("--grace-period", a->grace, "How long exited pods are kept after gc marks them")
      ->capture_default_str();
  cmd->add_option("--expire-prepared", a->expire_prepared, "How long prepared pods are kept")->capture_default_str();
  cmd->add_flag("--mark-only", a->mark_only, "Only mark exited and expired pods as garbage");
  pod::add_plugin_time_limit_option(*cmd, a->plugin_time_limit);
  cmd->callback([a, &g, &exit_status] {
    require_root("crt gc");
    runtime::GcOptions opts{with_context("--grace-period", [&] { return parse_duration(a->grace); }),
                            with_context("--expire-prepared", [&] { return parse_duration(a->expire_prepared); }),
                            a->mark_only, print_message,
                            pod::parse_plugin_time_limit(a->plugin_time_limit).value_or(net::kPluginTimeLimit)};
    StopSignalsNoted finish_the_pod_at_hand;
    runtime::GcReport r = runtime::gc(g.dir, opts);
    for (const auto& u : r.marked) std::printf("marked %s\n", u.c_str());
    for (const auto& u : r.removed) std::printf("removed %s\n", u.c_str());
    for (const auto& c : r.cgroups_removed) std::printf("removed cgroup %s\n", c.c_str());
    for (const auto& u : r.networks_torn_down) std::printf("tore down the network of %s\n", u.c_str());
    for (const auto& u : r.orphaned_networks_torn_down)
      std::printf("tore down the network of %s, whose pod directory is gone\n", u.c_str());
    if (r.work_removed > 0)
      std::printf("removed %zu leftover%s of interrupted work: %s freed\n", r.work_removed,
                  r.work_removed == 1 ? "" : "s", store::human_bytes(r.work_bytes).c_str());
    for (const auto& f : r.failed) print_error(f + " (will try again at the next gc)");
    if (!r.failed.empty()) exit_status = kErrorExitCode;
    // What was done is said; crt then ends by the signal, as stopped.
    if (int sig = r.stopped_by != 0 ? r.stopped_by : pending_stop_signal(); sig != 0) throw runtime::Interrupted(sig);
  });
}

/// Run by the watch of a pod whose crt was killed, once the pod has ended
/// (runtime::StopOnCrtDeath): its network goes then, not at the next crt gc,
/// and with --remove (crt run --rm) the pod too. Not for users: hidden from
/// --help. Its output goes nowhere.
void add_network_teardown_after_crt(CLI::App& app, const GlobalOptions& g) {
  auto uuid = std::make_shared<std::string>();
  auto port_fds = std::make_shared<int>(0);
  // A plugin's DEL takes a second or so: one that hangs would keep the pod
  // reading as running (its lock held) for ever.
  auto plugin_time_limit = std::make_shared<std::optional<std::string>>();
  auto remove = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(std::string(runtime::kTeardownAfterCrtCommand),
                                     "Tear down the network of a pod whose crt was killed, once it has ended");
  cmd->group("");
  cmd->add_option("UUID", *uuid)->required();
  cmd->add_option(std::string(runtime::kTeardownAfterCrtPortFdsOption), *port_fds,
                  "Sockets holding the pod's host ports, as fds 4 and up")
      ->check(CLI::Range(0, 256));
  pod::add_plugin_time_limit_option(*cmd, *plugin_time_limit, pod::OptionVisibility::kShown);
  cmd->add_flag(std::string(runtime::kTeardownAfterCrtRemoveOption), *remove,
                "Remove the pod then too (that of crt run --rm)");
  cmd->callback([uuid, port_fds, plugin_time_limit, remove, &g] {
    require_root("crt " + std::string(runtime::kTeardownAfterCrtCommand));
    // The pod's host ports stay held until their forwarding is gone: a
    // host service that took them before would get no error, and lose its
    // traffic to the pod. Closed as this ends, whichever way.
    std::vector<UniqueFd> held_ports;
    for (int i = 0; i < *port_fds; ++i) {
      int fd = runtime::kTeardownAfterCrtFirstPortFd + i;
      if (::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) held_ports.emplace_back(fd);  // not the plugins'
    }
    // Named as before the exec (which named it after /proc/self/exe), for
    // ps and for what names the pod's holders.
    ::prctl(PR_SET_NAME, "pod-watch");
    // Its stdout and stderr are /dev/null: what it says goes to the host's
    // journal (where there is one).
    auto to_journal = [uuid](std::string_view m) {
      sd_journal_send("MESSAGE=crt: pod %s: %.*s", uuid->c_str(), static_cast<int>(m.size()), m.data(), "PRIORITY=%d",
                      m.rfind("warning:", 0) == 0 ? LOG_WARNING : LOG_INFO, "SYSLOG_IDENTIFIER=crt", nullptr);
    };
    try {
      auto limit = pod::parse_plugin_time_limit(*plugin_time_limit).value_or(net::kPluginTimeLimit);
      runtime::teardown_network_after_crt(g.dir, *uuid, runtime::kTeardownAfterCrtLockFd, to_journal, limit, *remove);
    } catch (const std::exception& e) {
      to_journal(std::string("warning: ") + e.what() + "; 'crt gc' will try again");
      throw;
    }
  });
}

}  // namespace

void add_stop_commands(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  add_stop(app, g, exit_status);
  add_rm(app, g, exit_status);
  add_gc(app, g, exit_status);
  add_network_teardown_after_crt(app, g);
}

}  // namespace crt::cli
