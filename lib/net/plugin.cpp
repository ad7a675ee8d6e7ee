#include "net/plugin.hpp"

#include <unistd.h>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "common/subprocess.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

std::string join_dirs(const std::vector<stdfs::path>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ":") + d.string();
  return out;
}

/// The user's "K=V;K=V" as every plugin of the network gets them: each
/// plugin knows only some of the keys (host-local IP=, …), and fails on the
/// others unless IgnoreUnknown=1 is among them, which CNI runtimes add (so
/// does crt, unless the user gave IgnoreUnknown).
std::string cni_args(const std::string& args) {
  if (args.empty()) return args;
  size_t start = 0;
  while (start <= args.size()) {
    size_t end = args.find(';', start);
    if (end == std::string::npos) end = args.size();
    if (args.compare(start, 14, "IgnoreUnknown=") == 0) return args;
    start = end + 1;
  }
  return "IgnoreUnknown=1;" + args;
}

std::vector<std::string> plugin_environment(const std::string& command, const Invocation& inv) {
  std::vector<std::string> env = current_environment(
      {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"});
  // Plugins run iptables and friends from PATH, which crt's main() gave
  // the system's directories (ensure_system_path()).
  env.push_back("CNI_COMMAND=" + command);
  env.push_back("CNI_CONTAINERID=" + inv.container_id);
  env.push_back("CNI_NETNS=" + inv.netns);
  env.push_back("CNI_IFNAME=" + inv.ifname);
  env.push_back("CNI_ARGS=" + cni_args(inv.args));
  env.push_back("CNI_PATH=" + join_dirs(inv.dirs));
  return env;
}

std::string trimmed(std::string_view text) {
  std::string s = trim_end(text, " \r\n");
  size_t nl = s.rfind('\n');
  // The last line says what went wrong; keep messages on one line.
  if (nl != std::string::npos) s = s.substr(nl + 1);
  return s.size() > 500 ? s.substr(0, 500) + "…" : s;
}

std::string failure_message(const ProgramResult& r) {
  try {
    json e = json_text::parse(r.out);
    if (e.is_object() && e.contains("msg")) {
      std::string msg = e["msg"].is_string() ? e["msg"].get<std::string>() : json_text::dump(e["msg"]);
      if (e.contains("details") && e["details"].is_string() && !e["details"].get<std::string>().empty())
        msg += ": " + e["details"].get<std::string>();
      if (e.contains("code") && e["code"].is_number()) msg += " (code " + json_text::dump(e["code"]) + ")";
      return msg;
    }
  } catch (const json::exception&) {
  }
  std::string text = trimmed(r.err.empty() ? r.out : r.err);
  return (text.empty() ? "no message" : text) + " (exit status " + std::to_string(r.status) + ")";
}

}  // namespace

std::vector<stdfs::path> plugin_dirs(const stdfs::path& config_dir) {
  // Debian's, then Fedora's and RHEL's (/usr/libexec/cni), a local build's,
  // the CNI project's own tarballs', and the administrator's.
  return {"/usr/lib/cni",           "/usr/libexec/cni", "/usr/local/lib/cni",
          "/usr/local/libexec/cni", "/opt/cni/bin",     config_dir / "net.d"};
}

stdfs::path find_plugin(const std::string& type, const std::vector<stdfs::path>& dirs) {
  for (const auto& d : dirs) {
    stdfs::path p = d / type;
    if (::access(p.c_str(), X_OK) == 0 && !stdfs::is_directory(p)) return p;
  }
  throw Error("plugin " + quote(type) + " not found in " + join_dirs(dirs));
}

json exec_plugin(const std::string& command, const json& config, const Invocation& inv) {
  std::string type = config.at("type").get<std::string>();
  stdfs::path binary = find_plugin(type, inv.dirs);
  ProgramResult r = with_context("plugin " + quote(type), [&] {
    return run_program({binary.string()}, plugin_environment(command, inv), json_text::dump(config), inv.pod_lock_fd,
                       inv.time_limit);
  });
  if (r.timed_out) throw Error("plugin " + quote(type) + " " + killed_after_text(inv.time_limit.limit));
  if (r.status != 0) throw Error("plugin " + quote(type) + " failed: " + failure_message(r));
  std::string out = r.out;
  if (out.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
  try {
    return json_text::parse(out);
  } catch (const json::exception&) {
    throw Error("plugin " + quote(type) + " printed a result that is not JSON: " + trimmed(out));
  }
}

json plugin_config(const NetworkConfig& net, size_t index, const json& prev_result, const json& runtime_config,
                   const std::string& command) {
  json conf = net.plugins.at(index);
  conf["name"] = net.name;
  if (!net.cni_version.empty()) conf["cniVersion"] = net.cni_version;
  // Chaining began with 0.3.0; DEL receives the ADD's result since 0.4.0.
  std::string needed = command == "ADD" ? "0.3.0" : "0.4.0";
  if (!prev_result.is_null() && compare_versions(net.cni_version, needed) >= 0) conf["prevResult"] = prev_result;
  json rc = json::object();
  if (runtime_config.is_object())
    for (const auto& [key, value] : runtime_config.items())
      if (has_capability(conf, key)) rc[key] = value;
  if (!rc.empty()) conf["runtimeConfig"] = rc;
  return conf;
}

json add_network(const NetworkConfig& net, const Invocation& inv, const json& runtime_config) {
  json prev = nullptr;
  for (size_t i = 0; i < net.plugins.size(); ++i) {
    json result = exec_plugin("ADD", plugin_config(net, i, prev, runtime_config, "ADD"), inv);
    if (result.is_null())
      throw Error("plugin " + quote(net.plugins[i].at("type").get<std::string>()) + " returned no result");
    prev = std::move(result);
  }
  return prev;
}

void del_network(const NetworkConfig& net, const Invocation& inv, const json& runtime_config, const json& prev_result) {
  std::string errors;
  for (size_t i = net.plugins.size(); i-- > 0;) {
    // Every plugin gets its chance to release what it holds, even when one
    // before it failed; each failure is told, none hides another's.
    try {
      exec_plugin("DEL", plugin_config(net, i, prev_result, runtime_config, "DEL"), inv);
    } catch (const Error& e) {
      errors += (errors.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!errors.empty()) throw Error(errors);
}

}  // namespace crt::net
