// crt status, crt list and crt cat-manifest: what pods there are and how
// they are doing, read from their directories.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>

#include "commands.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "pod/manifest.hpp"
#include "pod/net_options.hpp"
#include "runtime/images.hpp"
#include "runtime/machines.hpp"
#include "runtime/pods.hpp"

namespace crt::cli {

namespace {

using nlohmann::json;
using runtime::PodStatus;

/// A pod's networks as `crt status` and `crt list` give them in JSON.
json networks_json(const std::vector<net::NetworkSummary>& networks) {
  json out = json::array();
  for (const auto& n : networks)
    out.push_back({{"name", n.name}, {"ifname", n.ifname}, {"ip4", n.ip4}, {"ip6", n.ip6}, {"released", n.released}});
  return out;
}

json status_json(const runtime::PodInfo& info) {
  json j;
  j["uuid"] = info.entry.uuid;
  j["state"] = runtime::status_name(info.entry.status());
  if (info.manifest) {
    j["name"] = info.manifest->name;
    j["created"] = info.manifest->created;
  }
  if (!info.started.empty()) j["started"] = info.started;
  if (info.pid) j["pid"] = *info.pid;
  PodStatus st = info.entry.status();
  j["exited"] = st == PodStatus::kExited || st == PodStatus::kExitedGarbage;
  j["ready"] = info.ready;
  json apps = json::object();
  json restarts = json::object();
  json results = json::object();
  for (const auto& e : info.exits) {
    apps[e.app] = e.status;
    restarts[e.app] = e.restarts;
    results[e.app] = e.result;
  }
  for (const auto& [app, n] : info.restarts) restarts[app] = n;
  j["app_exit_statuses"] = apps;
  j["app_restarts"] = restarts;
  j["app_results"] = results;
  j["app_oom_kills"] = info.oom_kills;
  j["networks"] = networks_json(info.networks);
  j["ports"] = net::ports_json(info.ports);
  return j;
}

void print_status(const runtime::PodInfo& info) {
  json j = status_json(info);
  std::printf("state=%s\n", j["state"].get<std::string>().c_str());
  if (j.contains("created")) std::printf("created=%s\n", j["created"].get<std::string>().c_str());
  if (j.contains("started")) std::printf("started=%s\n", j["started"].get<std::string>().c_str());
  if (j.contains("pid")) std::printf("pid=%d\n", j["pid"].get<int>());
  std::printf("exited=%s\n", j["exited"].get<bool>() ? "true" : "false");
  std::printf("ready=%s\n", info.ready ? "true" : "false");
  if (!info.networks.empty()) std::printf("networks=%s\n", net::summary_string(info.networks).c_str());
  if (!info.ports.empty()) std::printf("ports=%s\n", net::ports_string(info.ports).c_str());
  for (const auto& e : info.exits) {
    std::printf("app-%s=%d\n", e.app.c_str(), e.status);
    if (e.restarts > 0) std::printf("app-%s-restarts=%llu\n", e.app.c_str(), static_cast<unsigned long long>(e.restarts));
    // systemd's result where the status does not say it: start-limit-hit
    // (it gave up restarting the app), timeout, oom-kill …
    if (!e.result.empty() && e.result != "success" && e.result != "exit-code" && e.result != "signal" &&
        e.result != "core-dump")
      std::printf("app-%s-result=%s\n", e.app.c_str(), e.result.c_str());
    if (auto k = info.oom_kills.find(e.app); k != info.oom_kills.end())
      std::printf("app-%s-oom-kills=%llu\n", e.app.c_str(), static_cast<unsigned long long>(k->second));
  }
  for (const auto& [app, n] : info.restarts)
    std::printf("app-%s-restarts=%llu\n", app.c_str(), static_cast<unsigned long long>(n));
}

/// Who removes a pod a wait is for, as its messages say.
constexpr std::string_view kRemovers = "by its crt run --rm, crt rm or crt gc";

/// What a wait has seen of a pod: how it ended, should it be removed
/// between two looks.
struct Seen {
  runtime::PodInfo info;            ///< as the wait found it: manifest, start, networks
  std::vector<pod::AppExit> exits;  ///< as recorded at the last look
  bool ready = false;               ///< its apps had started
  bool removed = false;             ///< it is gone, or going
};

/// The pod `uuid` as it is now (being removed too); none once it is gone.
/// One that moved between folders as they were listed is looked for again.
std::optional<runtime::PodEntry> look(const std::filesystem::path& dir, const std::string& uuid) {
  for (int i = 0;; ++i) {
    for (auto& e : runtime::list_pods(dir))
      if (e.uuid == uuid) return std::move(e);
    if (i == 1) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// The end of a pod that is gone or going (`going`), as `seen` and what is
/// left of its directory tell (its records go last but for pod.json): shown
/// as the exited pod it was. Throws when neither tells how an app ended.
runtime::PodInfo end_of_removed(Seen& seen, const std::optional<runtime::PodEntry>& going) {
  runtime::PodInfo info = seen.info;
  info.exits = seen.exits;
  if (going) {
    runtime::PodInfo left = runtime::pod_info(*going);
    if (!info.manifest) info.manifest = left.manifest;
    if (left.exits.size() >= info.exits.size()) info.exits = left.exits;
    if (!left.oom_kills.empty()) info.oom_kills = left.oom_kills;
    std::error_code ec;
    seen.ready = seen.ready || std::filesystem::exists(going->path / "ready", ec);
  }
  const std::string& uuid = info.entry.uuid;
  if (info.exits.empty())
    throw Error("pod " + uuid + " is gone: it was removed (" + std::string(kRemovers) +
                ") before how its apps ended could be read");
  print_message("pod " + uuid + " is gone: it was removed as it ended (" + std::string(kRemovers) +
                "); this is how it ended");
  info.ready = info.ready || seen.ready;
  info.pid.reset();
  info.restarts.clear();
  info.entry.dir_state = runtime::PodState::kRun;  // exited
  info.entry.locked = false;
  return info;
}

/// Waits until `done(entry)` or the timeout; returns the pod's info then.
/// Each look is at the pod's directory alone (pod_info() would ask the
/// pod's systemd, 50 times a second). A pod removed meanwhile ends the
/// wait too (`seen.removed`): with its end (end_of_removed()) where
/// `ready_will_do` and its apps had started, or for a wait for its end;
/// else with an error.
template <typename Pred>
runtime::PodInfo wait_for(const GlobalOptions& g, Seen& seen, std::optional<std::chrono::milliseconds> timeout,
                          Pred done, const char* what, bool ready_will_do) {
  const std::string uuid = seen.info.entry.uuid;
  auto until = timeout ? std::chrono::steady_clock::now() + *timeout : std::chrono::steady_clock::time_point::max();
  for (;;) {
    std::optional<runtime::PodEntry> e = look(g.dir, uuid);
    if (!e || e->status() == PodStatus::kDeleting) {
      seen.removed = true;
      if (ready_will_do && !seen.ready)
        throw Error("pod " + uuid + " is gone: it was removed (" + std::string(kRemovers) +
                    ") before its apps started: it will not become ready");
      return end_of_removed(seen, e);
    }
    if (e->status() == PodStatus::kRunning) {
      // Found before it ran: what it started with (its start, networks).
      if (seen.info.entry.status() != PodStatus::kRunning) seen.info = runtime::pod_info(*e);
      seen.exits = runtime::read_app_exits(e->path);
      seen.ready = seen.ready || runtime::pod_ready(*e);
    }
    if (done(*e)) return runtime::pod_info(*e);
    if (std::chrono::steady_clock::now() >= until) throw Error("pod " + uuid + " is not " + what + " yet");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// Whether `ref` may name a pod not made yet: a pod name, not a UUID or a
/// prefix of one (pod names of hex digits and '-' alone are refused).
bool may_be_a_pod_name(const std::string& ref) {
  try {
    pod::validate_pod_name(ref);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::optional<std::chrono::milliseconds> optional_duration(const std::string& s) {
  if (s.empty() || s == "forever" || s == "infinity") return std::nullopt;
  return parse_duration(s);
}

void add_status(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    PodRef ref;
    std::string format = "text";
    std::string wait, wait_ready;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("status", "Show the state of a pod");
  add_pod_ref(cmd, a->ref);
  add_format_option(cmd, a->format, "text");
  // Without a value, an option of expected(0, 1) holds "" (no limit).
  cmd->add_option("--wait", a->wait,
                  "Wait until the pod has exited, at most DURATION (30s, 2m …; no value: wait without limit)")
      ->expected(0, 1)
      ->type_name("[DURATION]");
  cmd->add_option("--wait-ready", a->wait_ready,
                  "Wait until the pod's apps have started, at most DURATION (30s, 2m …; no value: wait without limit)")
      ->expected(0, 1)
      ->type_name("[DURATION]");
  cmd->callback([a, cmd, &g] {
    require_root("crt status");
    // "--wait-ready POD": CLI11 hands an option whose value is optional the
    // next word; a word that is no duration is the pod.
    std::string not_a_duration;  // why the word taken for the pod is no duration
    for (std::string* v : {&a->wait_ready, &a->wait}) {
      if (!a->ref.pod.empty() || !a->ref.uuid_file.empty() || v->empty() || v->front() == '-') continue;
      if (*v == "forever" || *v == "infinity") continue;
      try {
        parse_duration(*v);
      } catch (const Error& err) {
        not_a_duration = std::string(v == &a->wait ? "--wait" : "--wait-ready") + ": " + err.what();
        a->ref.pod = *v;
        v->clear();
      }
    }
    // A duration that is wrong is said before the pod is looked for.
    auto limit = [&](const char* option, const std::string& v) {
      return cmd->count(option) > 0 ? with_context(option, [&] { return optional_duration(v); }) : std::nullopt;
    };
    std::optional<std::chrono::milliseconds> ready_limit = limit("--wait-ready", a->wait_ready);
    std::optional<std::chrono::milliseconds> exit_limit = limit("--wait", a->wait);
    const bool waits = cmd->count("--wait-ready") > 0 || cmd->count("--wait") > 0;
    // `crt run … &` then `crt status --wait-ready`: the pod, or the UUID file
    // its crt run writes, may not be there yet. A wait waits for it too, for
    // as long as the wait's limit (that of the first wait done).
    const auto start = std::chrono::steady_clock::now();
    // A crt run-prepared whose start fails puts the pod back: no wait would
    // end. It counts the failure, which ends them.
    uint64_t failed_before = 0;  // as the pod was found
    auto unless_start_failed = [&](const runtime::PodEntry& now) {
      if (runtime::failed_starts(now.path) > failed_before && now.status() == PodStatus::kPrepared)
        throw Error("pod " + now.uuid + "'s start failed (see its crt run-prepared): it is prepared again");
    };
    std::optional<std::chrono::milliseconds> first_limit = cmd->count("--wait-ready") > 0 ? ready_limit : exit_limit;
    auto until = first_limit ? start + *first_limit : std::chrono::steady_clock::time_point::max();
    // What may still come: a UUID file not yet written, or a pod of the
    // name given not yet made. Not a UUID or a prefix of one that names no
    // pod: a pod has one once it is there (crt prints it, --uuid-file-save
    // writes it after), so such a pod was removed.
    auto not_there_yet = [&](const Error& err) {
      if (!a->ref.uuid_file.empty()) {
        std::error_code ec;
        auto size = std::filesystem::file_size(a->ref.uuid_file, ec);
        return ec ? ec == std::errc::no_such_file_or_directory : size == 0;  // not written yet
      }
      // A word the wait's option gave back as the pod ('--wait-ready web'),
      // but not one that was meant as a duration and is wrong ('--wait 5x').
      bool meant_as_pod = not_a_duration.empty() || std::isdigit(static_cast<unsigned char>(a->ref.pod[0])) == 0;
      return meant_as_pod && dynamic_cast<const runtime::NoSuchPod*>(&err) != nullptr && may_be_a_pod_name(a->ref.pod);
    };
    runtime::PodEntry e;
    for (bool said = false;;) {
      try {
        e = with_pod_ref(a->ref, [&](const std::string& pod) { return runtime::find_pod(g.dir, pod); });
        break;
      } catch (const Error& err) {
        auto now = std::chrono::steady_clock::now();
        bool may_come = waits && not_there_yet(err);
        if (may_come && now < until) {
          if (!said && now - start >= std::chrono::seconds(1)) {
            print_message(
                (a->ref.uuid_file.empty() ? std::string(err.what()) : "no UUID in " + quote(a->ref.uuid_file)) +
                " yet: waiting for it");
            said = true;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        // The wait is over: what it waited for is said, not only what is
        // missing (one removed before crt looked reads as one not made yet).
        if (may_come && first_limit)
          throw Error(std::string(err.what()) + ": " +
                      (a->ref.uuid_file.empty() ? "no pod of that name appeared" : "the file was not written") +
                      " within the " + seconds_text(*first_limit) + " the wait gave it" +
                      (a->ref.uuid_file.empty() ? " (a pod removed before the wait began cannot be seen)" : ""));
        if (not_a_duration.empty() || dynamic_cast<const runtime::NoSuchPod*>(&err) == nullptr) throw;
        throw Error(std::string(err.what()) + "; nor is it a duration (" + not_a_duration + ")");
      }
    }
    // What is left of the first wait's limit.
    auto left = [&](std::optional<std::chrono::milliseconds> l) -> std::optional<std::chrono::milliseconds> {
      if (!l) return l;
      auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      return std::max(*l - spent, std::chrono::milliseconds(0));
    };
    if (cmd->count("--wait-ready") > 0)
      ready_limit = left(ready_limit);
    else
      exit_limit = left(exit_limit);
    failed_before = runtime::failed_starts(e.path);
    runtime::PodInfo info = runtime::pod_info(e);
    Seen seen{info, {}, false, false};
    if (cmd->count("--wait-ready") > 0) {
      info = wait_for(
          g, seen, ready_limit,
          [&](const runtime::PodEntry& now) {
            PodStatus st = now.status();
            // Ready and ended since (between two looks, or before crt status
            // ran): its apps did start.
            if (runtime::pod_was_ready(now)) return true;
            unless_start_failed(now);
            if (st != PodStatus::kRunning && st != PodStatus::kPreparing && st != PodStatus::kPrepared)
              throw Error("pod " + e.uuid + " is " + runtime::status_name(st) + ": it will not become ready");
            return runtime::pod_ready(now);
          },
          "ready", true);
    }
    if (cmd->count("--wait") > 0 && !seen.removed) {
      info = wait_for(
          g, seen, exit_limit,
          [&](const runtime::PodEntry& now) {
            unless_start_failed(now);
            PodStatus st = now.status();
            return st == PodStatus::kExited || st == PodStatus::kExitedGarbage || st == PodStatus::kGarbage ||
                   st == PodStatus::kAbortedPrepare;
          },
          "exited", false);
    }
    if (!info.manifest_error.empty())
      print_message("warning: pod " + e.uuid + ": reading its manifest: " + info.manifest_error);
    if (a->format == "json")
      std::printf("%s\n", json_text::dump(status_json(info), 2).c_str());
    else
      print_status(info);
  });
}

std::string short_id(const std::string& id, bool full) {
  std::string s = id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
  return full ? s : s.substr(0, 8);
}

void add_list(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    bool full = false;
    bool no_legend = false;
    std::string format = "table";
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "list",
      "List pods, one row per app (in a running pod, an app that has ended is 'exited'); where machined runs, "
      "--format=json gives each running pod's machine");
  cmd->alias("ls");
  cmd->add_flag("--full", a->full, "Full UUIDs and image ids");
  cmd->add_flag("--no-legend", a->no_legend, "No header line");
  add_format_option(cmd, a->format, "table");
  cmd->callback([a, &g] {
    require_root("crt list");  // pod directories are root's alone
    json rows = json::array();
    std::vector<std::string> summaries;  // the table's NETWORKS, row by row
    std::vector<std::string> ports;      // and its PORTS
    std::vector<runtime::PodEntry> pods = runtime::list_pods(g.dir);
    // To tell whether the name an app's image was run by names it still.
    std::map<std::string, std::string> image_names = store::image_names(g.dir);
    // Where machined runs, running pods are its machines: it says which
    // unit each lives in and whether it is shutting down.
    std::vector<dbus::MachineEntry> machines;
    if (std::any_of(pods.begin(), pods.end(), [](const auto& e) { return e.status() == runtime::PodStatus::kRunning; }))
      machines = runtime::list_machines();
    // Oldest first, as ps and machinectl list (ISO 8601 times sort as text).
    std::vector<runtime::PodInfo> infos;
    for (const auto& e : pods) {
      infos.push_back(runtime::pod_info(e));
      if (!infos.back().manifest_error.empty())
        print_message("warning: pod " + e.uuid + ": reading its manifest: " + infos.back().manifest_error);
    }
    auto created = [](const runtime::PodInfo& i) { return i.manifest ? i.manifest->created : std::string(); };
    std::stable_sort(infos.begin(), infos.end(), [&](const auto& x, const auto& y) {
      return std::pair(created(x), x.entry.uuid) < std::pair(created(y), y.entry.uuid);
    });
    for (const auto& info : infos) {
      const runtime::PodEntry& e = info.entry;
      std::optional<dbus::MachineDetails> machine;
      if (info.manifest && e.status() == runtime::PodStatus::kRunning &&
          std::any_of(machines.begin(), machines.end(),
                      [&](const auto& m) { return m.name == info.manifest->machine_name(); }))
        machine = runtime::pod_machine(info.manifest->machine_name(), info.pid.value_or(0));
      std::vector<pod::AppManifest> apps = info.manifest ? info.manifest->apps : std::vector<pod::AppManifest>{};
      if (apps.empty()) apps.push_back({});
      // In a running pod, an app whose end is recorded has exited (one that
      // systemd restarts is recorded once it gives up).
      auto exited = [&info, &e](const std::string& name) {
        return e.status() == runtime::PodStatus::kRunning &&
               std::any_of(info.exits.begin(), info.exits.end(), [&](const pod::AppExit& x) { return x.app == name; });
      };
      for (const auto& am : apps) {
        json r;
        r["uuid"] = e.uuid;
        r["name"] = info.manifest ? info.manifest->name : "";
        r["app"] = am.name;
        r["image"] = am.image.name;
        r["image_id"] = am.image.id;
        r["image_moved"] = runtime::image_name_moved(am.image, image_names);
        r["state"] = machine && machine->state == "closing" ? "stopping"
                     : exited(am.name)                      ? "exited"
                                                            : runtime::status_name(e.status());
        if (machine) r["machine"] = {{"name", machine->name}, {"unit", machine->unit}, {"leader", machine->leader},
                                     {"state", machine->state}};
        r["created"] = info.manifest ? info.manifest->created : "";
        r["started"] = info.started;
        r["networks"] = networks_json(info.networks);
        r["ports"] = net::ports_json(info.ports);
        rows.push_back(r);
        ports.push_back(net::ports_string(info.ports));
        // A pod without networks of its own says which it has instead.
        std::string nets = net::summary_string(info.networks);
        if (nets.empty() && info.manifest) {
          pod::NetSpec spec = pod::parse_net_spec(info.manifest->net);
          if (spec.mode == pod::NetSpec::Mode::kHost) nets = "host";
          if (spec.mode == pod::NetSpec::Mode::kNone) nets = "none";
        }
        summaries.push_back(nets);
      }
    }
    if (a->format == "json") {
      std::printf("%s\n", json_text::dump(rows, 2).c_str());
      return;
    }
    std::vector<std::vector<std::string>> table;
    if (!a->no_legend)
      table.push_back({"UUID", "NAME", "APP", "IMAGE", "STATE", "CREATED", "STARTED", "NETWORKS", "PORTS"});
    for (size_t i = 0; i < rows.size(); ++i) {
      const json& r = rows[i];
      std::string image = r["image"].get<std::string>();
      if (r["image_moved"].get<bool>())
        image = runtime::shown_image(image, short_id(r["image_id"], a->full), true);
      else if (a->full && !r["image_id"].get<std::string>().empty())
        image += " (" + short_id(r["image_id"], true) + ")";
      std::string name = r["name"].get<std::string>();
      std::string uuid = r["uuid"].get<std::string>();
      table.push_back({a->full ? uuid : uuid.substr(0, 8), name.empty() ? "-" : name, r["app"].get<std::string>(),
                       image, r["state"].get<std::string>(), r["created"].get<std::string>(),
                       r["started"].get<std::string>(), summaries[i], ports[i]});
    }
    std::fputs(format_table(table).c_str(), stdout);
  });
}

void add_cat_manifest(CLI::App& app, const GlobalOptions& g) {
  auto ref = std::make_shared<PodRef>();
  auto show_env = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("cat-manifest", "Print a pod's manifest (JSON)");
  add_pod_ref(cmd, *ref);
  // As crt inspect shows them: the manifest would otherwise give away what
  // inspect hides.
  cmd->add_flag("--show-env", *show_env, "Show the values of variables that look like secrets");
  cmd->callback([ref, show_env, &g] {
    require_root("crt cat-manifest");
    runtime::PodEntry e = with_pod_ref(*ref, [&](const std::string& pod) { return runtime::find_pod(g.dir, pod); });
    std::string text = fs::read_file(e.path / "pod.json");
    std::fputs((*show_env ? text : pod::mask_secret_env(text)).c_str(), stdout);
  });
}

}  // namespace

void add_status_commands(CLI::App& app, const GlobalOptions& g, int&) {
  add_status(app, g);
  add_list(app, g);
  add_cat_manifest(app, g);
}

}  // namespace crt::cli
