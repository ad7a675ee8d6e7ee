// crt inspect: what the kernel says about a pod's apps.

#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "common/json_text.hpp"
#include "net/state.hpp"
#include "pod/exit_status.hpp"
#include "runtime/images.hpp"
#include "runtime/inspect.hpp"

namespace crt::cli {

namespace {

using nlohmann::json;

std::string s(const json& j) { return j.is_string() ? j.get<std::string>() : json_text::dump(j); }

void print_network(const json& n) {
  std::string mode = s(n["mode"]);
  if (mode != "own") {
    std::printf("\nnetwork: %s\n", mode == "host" ? "the host's" : "none (loopback only)");
    return;
  }
  std::printf("\nnetwork: its own%s\n", n.contains("namespace") ? (", namespace " + s(n["namespace"])).c_str() : "");
  for (const auto& a : n["networks"])
    std::printf("  %-12s %-6s %s %s\n", s(a["name"]).c_str(), s(a["ifname"]).c_str(), s(a["ip4"]).c_str(),
                s(a["ip6"]).c_str());
  if (n.contains("ports") && !n["ports"].empty()) {
    std::string ports;
    bool released = false;
    for (const auto& p : n["ports"]) {
      net::PublishedPort port{
          s(p["network"]),  s(p["host_ip"]),          p["host_port"].get<uint16_t>(), p["pod_port"].get<uint16_t>(),
          s(p["protocol"]), p["released"].get<bool>()};
      ports += (ports.empty() ? "" : ", ") + net::port_string(port);
      released = released || port.released;
    }
    std::printf("  ports:       %s%s\n", ports.c_str(), released ? " (released: the network is torn down)" : "");
  }
  if (n.contains("error")) std::printf("  (not read: %s)\n", s(n["error"]).c_str());
  if (!n.contains("addresses")) return;
  std::printf("  interfaces:\n");
  for (const auto& i : n["addresses"]) {
    std::string addrs;
    for (const auto& a : i.value("addr_info", json::array()))
      addrs += " " + s(a["local"]) + "/" + s(a["prefixlen"]);
    std::printf("    %-8s %-8s%s\n", s(i["ifname"]).c_str(), s(i["operstate"]).c_str(), addrs.c_str());
  }
  std::printf("  routes:\n");
  for (const auto& r : n["routes"]) {
    std::string line = s(r["dst"]);
    if (r.contains("gateway")) line += " via " + s(r["gateway"]);
    if (r.contains("dev")) line += " dev " + s(r["dev"]);
    std::printf("    %s\n", line.c_str());
  }
}

/// How an app that is not running ended: "exit status 3 (exited 3,
/// exit-code)", and why systemd no longer restarts it where it gave up.
void print_end(const json& ended) {
  pod::AppExit e;
  e.exit_code = s(ended["exit_code"]);
  e.exit_status = s(ended["exit_status"]);
  e.result = s(ended["result"]);
  e.restarts = ended["restarts"].get<uint64_t>();
  std::string limit = pod::start_limit_text(e);
  std::printf("  ended:        exit status %d (%s, %s%s)\n", ended["status"].get<int>(), pod::how_it_ended(e).c_str(),
              e.result.c_str(), limit.empty() ? "" : (": " + limit).c_str());
}

void print_text(const json& pod) {
  std::printf("pod %s (%s), %s", s(pod["uuid"]).c_str(), s(pod["machine"]).c_str(), s(pod["state"]).c_str());
  if (pod.contains("pid")) std::printf(", systemd-nspawn pid %d", pod["pid"].get<int>());
  std::printf("\n");
  print_network(pod["network"]);
  for (const auto& a : pod["apps"]) {
    // As crt list shows it: by its ID once its name is another image's.
    std::string id = a.value("image_id", "");
    std::string image =
        runtime::shown_image(s(a["image"]), id.substr(id.find(':') + 1, 8), a.value("image_moved", false));
    std::printf("\napp %s (%s)\n", s(a["name"]).c_str(), image.c_str());
    if (!a["running"].get<bool>()) {
      std::printf("  not running\n");
      if (a.contains("ended")) print_end(a["ended"]);
    } else {
      std::printf("  pid:          %d\n", a["pid"].get<int>());
      std::printf("  user:         uid %s  gid %s  groups %s\n", s(a["user"]["uid"]).c_str(), s(a["user"]["gid"]).c_str(),
                  s(a["user"]["groups"]).c_str());
      std::printf("  namespaces:\n");
      for (const auto& [kind, ns] : a["namespaces"].items())
        std::printf("    %-7s %-22s %s\n", kind.c_str(), s(ns["id"]).c_str(),
                    ns["differs_from_host"].get<bool>() ? "own" : "host's");
      auto names = [](const json& list) {
        std::string out;
        for (const auto& n : list) out += (out.empty() ? "" : ",") + s(n);
        return out.empty() ? std::string("(none)") : out;
      };
      std::printf("  CapBnd:       %s = %s\n", s(a["capabilities"]["bounding_hex"]).c_str(),
                  names(a["capabilities"]["bounding"]).c_str());
      std::printf("  CapEff:       %s = %s\n", s(a["capabilities"]["effective_hex"]).c_str(),
                  names(a["capabilities"]["effective"]).c_str());
      std::printf("  NoNewPrivs:   %d\n", a["no_new_privs"].get<bool>() ? 1 : 0);
      std::printf("  seccomp:      %s, %d filters\n", s(a["seccomp"]["mode"]).c_str(), a["seccomp"]["filters"].get<int>());
      const json& r = a["resources"];
      std::printf("  cgroup:       %s\n", r.contains("cgroup") ? s(r["cgroup"]).c_str() : "?");
      // Where its files are: on a host with v1 controllers, one directory
      // per hierarchy, at paths of their own.
      const char* label = "  cgroupfs:     ";
      for (const auto& d : r.value("cgroup_dirs", json::array())) {
        std::printf("%s%s\n", label, s(d).c_str());
        label = "                ";
      }
      for (const char* k : {"memory_current", "memory_max", "cpu_usage_nsec", "cpu_usage_usec", "pod_cpu_usage_nsec", "cpu_quota_us",
                            "cpu_period_us", "cpu_max"})
        if (r.contains(k))
          std::printf("  %-20s %s%s\n", (std::string(k) + ":").c_str(), s(r[k]).c_str(),
                      runtime::is_no_limit(k, s(r[k])) ? " (no limit)" : "");
      std::printf("  mounts:\n");
      // Columns of at least 28 and 8 characters, wider for a longer target
      // or type (every pod has /proc/sys/kernel/random/boot_id).
      int target_width = 28, type_width = 8;
      for (const auto& m : a["mounts"]) {
        target_width = std::max(target_width, static_cast<int>(s(m["target"]).size()));
        type_width = std::max(type_width, static_cast<int>(s(m["type"]).size()));
      }
      for (const auto& m : a["mounts"]) {
        std::printf("    %-*s %-*s %s\n", target_width, s(m["target"]).c_str(), type_width, s(m["type"]).c_str(),
                    s(m["source"]).c_str());
        if (m.contains("lowerdirs")) {
          const char* lower_label = "      lower: ";  // top first, one per line
          for (const auto& l : m["lowerdirs"]) {
            std::printf("%s%s\n", lower_label, escape_controls(s(l)).c_str());
            lower_label = "             ";
          }
          std::printf("      upper: %s\n", escape_controls(s(m["upperdir"])).c_str());
        }
      }
      std::printf("  environment:\n");
      for (const auto& e : a["environment"]) std::printf("    %s\n", escape_controls(s(e)).c_str());
    }
    std::string unit = s(a["unit"]);
    if (unit.empty()) {
      // A prepared pod's (or one whose start failed first): crt writes the
      // units as the pod starts.
      std::printf("  unit:         (not written: the pod has not started)\n");
      continue;
    }
    std::printf("  unit:\n");
    size_t start = 0;
    while (start < unit.size()) {
      size_t nl = unit.find('\n', start);
      if (nl == std::string::npos) nl = unit.size();
      std::string line = unit.substr(start, nl - start);
      std::printf("%s%s\n", line.empty() ? "" : "    ", line.c_str());
      start = nl + 1;
    }
  }
}

}  // namespace

void add_inspect_command(CLI::App& app, const GlobalOptions& g, int&) {
  struct Args {
    PodRef ref;
    std::string app;
    std::string format = "text";
    bool show_env = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show what the kernel says about a pod's apps (procfs, cgroupfs)");
  add_pod_ref(cmd, a->ref);
  cmd->add_option("--app", a->app, "Only this app");
  add_format_option(cmd, a->format, "text");
  cmd->add_flag("--show-env", a->show_env, "Show the values of variables that look like secrets");
  cmd->callback([a, &g] {
    require_root("crt inspect");
    json pod = runtime::inspect_pod(
        with_pod_ref(a->ref, [&](const std::string& ref) { return runtime::find_pod(g.dir, ref); }), a->app,
        a->show_env);
    if (a->format == "json")
      std::printf("%s\n", json_text::dump(pod, 2).c_str());
    else
      print_text(pod);
  });
}

}  // namespace crt::cli
