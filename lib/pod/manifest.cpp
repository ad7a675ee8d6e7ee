#include "pod/manifest.hpp"

#include <systemd/sd-id128.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_text.hpp"

namespace crt::pod {

using nlohmann::json;

void to_json(json& j, const ImageRef& v) { j = json{{"name", v.name}, {"id", v.id}, {"layers", v.layers}}; }

void from_json(const json& j, ImageRef& v) {
  j.at("name").get_to(v.name);
  j.at("id").get_to(v.id);
  j.at("layers").get_to(v.layers);
}

namespace {

template <typename T>
void put_optional(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <typename T>
void get_optional(const json& j, const char* key, std::optional<T>& v) {
  if (j.contains(key) && !j[key].is_null()) v = j[key].get<T>();
}

}  // namespace

void to_json(json& j, const AppManifest& v) {
  json env = json::array();
  for (const auto& [k, val] : v.env) env.push_back({{"name", k}, {"value", val}});
  j = json{{"name", v.name},
           {"image", v.image},
           {"argv", v.argv},
           {"exec_path", v.exec_path},
           {"env", env},
           {"user", v.user},
           {"group", v.group},
           {"working_dir", v.working_dir},
           {"seccomp",
            {{"mode", v.seccomp.allow_list ? "retain" : "remove"},
             {"syscalls", v.seccomp.entries},
             {"errno", v.seccomp.error_number},
             {"removed", v.seccomp.removed}}},
           {"capabilities", v.capabilities},
           {"restart", v.restart},
           {"mounts", v.mounts},
           {"readonly_rootfs", v.readonly_rootfs},
           {"notify", v.notify},
           {"supplementary_gids", v.supplementary_gids},
           {"exposed_ports", v.exposed_ports},
           {"image_volumes", v.image_volumes},
           {"stop_signal", v.stop_signal}};
  j["allowed_namespaces"] = v.allowed_namespaces ? json(*v.allowed_namespaces) : json("all");
  put_optional(j, "oom_score_adj", v.oom_score_adj);
  put_optional(j, "cpu_shares", v.cpu_shares);
  put_optional(j, "pids_limit", v.pids_limit);
  put_optional(j, "uid", v.uid);
  put_optional(j, "gid", v.gid);
  put_optional(j, "memory_max", v.memory_max);
  put_optional(j, "cpu_millis", v.cpu_millis);
}

void from_json(const json& j, AppManifest& v) {
  j.at("name").get_to(v.name);
  j.at("image").get_to(v.image);
  j.at("argv").get_to(v.argv);
  j.at("exec_path").get_to(v.exec_path);
  v.env.clear();
  for (const auto& e : j.at("env")) v.env.emplace_back(e.at("name").get<std::string>(), e.at("value").get<std::string>());
  j.at("user").get_to(v.user);
  j.at("group").get_to(v.group);
  j.at("working_dir").get_to(v.working_dir);
  const json& sc = j.at("seccomp");
  std::string mode = sc.at("mode").get<std::string>();
  if (mode != "retain" && mode != "remove") throw Error("invalid seccomp mode " + quote(mode) + " in the pod manifest");
  v.seccomp.allow_list = mode == "retain";
  sc.at("syscalls").get_to(v.seccomp.entries);
  sc.at("errno").get_to(v.seccomp.error_number);
  v.seccomp.removed = sc.value("removed", std::vector<std::string>{});  // none from an older crt
  j.at("capabilities").get_to(v.capabilities);
  v.restart = j.value("restart", "no");
  if (j.contains("mounts")) j["mounts"].get_to(v.mounts);
  v.readonly_rootfs = j.value("readonly_rootfs", false);
  v.notify = j.value("notify", false);
  if (j.contains("supplementary_gids")) j["supplementary_gids"].get_to(v.supplementary_gids);
  if (j.contains("exposed_ports")) j["exposed_ports"].get_to(v.exposed_ports);
  if (j.contains("image_volumes")) j["image_volumes"].get_to(v.image_volumes);
  v.stop_signal = j.value("stop_signal", "");
  // A manifest from before the setting: the default for its capabilities,
  // as crt run gives such a pod's units.
  if (!j.contains("allowed_namespaces"))
    v.allowed_namespaces = sandbox::default_allowed_namespaces(v.capabilities);
  else if (j["allowed_namespaces"].is_string() && j["allowed_namespaces"] == "all")
    v.allowed_namespaces = std::nullopt;
  else
    v.allowed_namespaces = j["allowed_namespaces"].get<std::vector<std::string>>();
  get_optional(j, "oom_score_adj", v.oom_score_adj);
  get_optional(j, "cpu_shares", v.cpu_shares);
  get_optional(j, "pids_limit", v.pids_limit);
  get_optional(j, "uid", v.uid);
  get_optional(j, "gid", v.gid);
  get_optional(j, "memory_max", v.memory_max);
  get_optional(j, "cpu_millis", v.cpu_millis);
}

void to_json(json& j, const PodManifest& v) {
  j = json{{"crt_version", v.crt_version}, {"uuid", v.uuid},         {"name", v.name}, {"created", v.created},
           {"stage1", v.stage1},           {"apps", v.apps},         {"volumes", v.volumes}, {"net", v.net},
           {"hostname", v.hostname},       {"interactive", v.interactive}, {"exit_policy", v.exit_policy}};
  j["ports"] = v.ports;
  j["dns"] = v.dns;
  j["hosts_entries"] = v.hosts_entries;
  if (!v.unsynced_boot.empty()) j["unsynced_boot"] = v.unsynced_boot;
  if (v.stop_timeout) j["stop_timeout_ms"] = v.stop_timeout->count();
  if (!v.syscall_architectures.empty()) j["syscall_architectures"] = v.syscall_architectures;
  if (v.interactive) j["interactive_tty"] = v.interactive_tty;
  if (v.output_sockets) j["output_sockets"] = true;
  if (v.terminal_to_journal) j["terminal_to_journal"] = true;
  if (v.remove_at_end) j["remove_at_end"] = true;
}

void from_json(const json& j, PodManifest& v) {
  j.at("crt_version").get_to(v.crt_version);
  j.at("uuid").get_to(v.uuid);
  v.name = j.value("name", "");
  j.at("created").get_to(v.created);
  j.at("stage1").get_to(v.stage1);
  j.at("apps").get_to(v.apps);
  if (j.contains("volumes")) j["volumes"].get_to(v.volumes);
  j.at("net").get_to(v.net);
  j.at("hostname").get_to(v.hostname);
  j.at("interactive").get_to(v.interactive);
  j.at("exit_policy").get_to(v.exit_policy);
  // Manifests written before networking came have none of these.
  if (j.contains("ports")) j.at("ports").get_to(v.ports);
  if (j.contains("dns")) j.at("dns").get_to(v.dns);
  if (j.contains("hosts_entries")) j.at("hosts_entries").get_to(v.hosts_entries);
  v.unsynced_boot = j.value("unsynced_boot", "");
  v.stop_timeout.reset();
  if (j.contains("stop_timeout_ms")) v.stop_timeout = std::chrono::milliseconds(j.at("stop_timeout_ms").get<int64_t>());
  v.syscall_architectures.clear();
  if (j.contains("syscall_architectures")) j["syscall_architectures"].get_to(v.syscall_architectures);
  v.interactive_tty = j.value("interactive_tty", true);
  v.output_sockets = j.value("output_sockets", false);
  v.terminal_to_journal = j.value("terminal_to_journal", false);
  v.remove_at_end = j.value("remove_at_end", false);
}

std::string serialize(const PodManifest& m) {
  try {
    return json_text::dump(json(m), 2) + "\n";
  } catch (const json::type_error&) {
    // JSON holds only UTF-8; find the value to name it.
    for (const auto& a : m.apps) {
      for (const auto& s : a.argv)
        if (!json_text::is_utf8(s))
          throw Error("argument " + quote(s) + " of app " + quote(a.name) + " is not valid UTF-8");
      for (const auto& [k, v] : a.env)
        if (!json_text::is_utf8(k + v))
          throw Error("environment variable " + quote(k) + " of app " + quote(a.name) + " is not valid UTF-8");
    }
    throw Error("the pod manifest holds a value that is not valid UTF-8");
  }
}

bool looks_secret(std::string_view name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* word : {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE", "AUTH", "PASS"})
    if (upper.find(word) != std::string::npos) return true;
  return false;
}

std::string mask_secret_env(const std::string& text) {
  json j = json_text::parse(text);
  if (!j.contains("apps") || !j["apps"].is_array()) return text;
  for (auto& app : j["apps"]) {
    if (!app.is_object() || !app.contains("env") || !app["env"].is_array()) continue;
    for (auto& e : app["env"])
      if (e.is_object() && e.contains("name") && e["name"].is_string() && looks_secret(e["name"].get<std::string>()))
        e["value"] = "***";
  }
  return json_text::dump(j, 2) + "\n";
}

PodManifest parse_manifest(const std::string& text) {
  try {
    return json_text::parse(text).get<PodManifest>();
  } catch (const json::exception& e) {
    throw Error(std::string("invalid pod manifest: ") + e.what());
  }
}

void validate_app_name(const std::string& name) {
  auto bad = [&](const char* why) { return Error("invalid app name " + quote(name) + ": " + why); };
  if (name.empty() || name.size() > 63) throw bad("it must be 1 to 63 characters long");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      throw bad("only lowercase letters, digits and '-' are allowed");
  if (name.front() == '-') throw bad("it must start with a letter or digit");
  if (name.rfind("systemd-", 0) == 0) throw bad("names starting with 'systemd-' belong to the pod's own units");
  // The app's unit would replace crt's own of that name (pod_units()): the
  // pod would no longer reboot.
  if (name == "pod-reboot") throw bad("it is the name of one of crt's own units in the pod");
}

void validate_host_name(const std::string& what, const std::string& name) {
  auto bad = [&](const char* why) { return Error("invalid " + what + " " + quote(name) + ": " + why); };
  if (name.empty() || name.size() > 64) throw bad("it must be 1 to 64 characters long");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      throw bad("only letters, digits, '-' and '.' are allowed");
  // As systemd's hostname_is_valid(), which nspawn applies to both.
  for (size_t i = 0; i < name.size(); ++i) {
    bool label_start = i == 0 || name[i - 1] == '.';
    bool label_end = i + 1 == name.size() || name[i + 1] == '.';
    if (label_start && (name[i] == '.' || name[i] == '-'))
      throw bad("it must not start with '.' or '-', nor have them right after a '.'");
    if (label_end && (name[i] == '-' || (name[i] == '.' && i + 1 == name.size())))
      throw bad("it must not end in '-' or '.', nor have '-' right before a '.'");
  }
}

void validate_pod_name(const std::string& name) {
  validate_host_name("pod name", name);
  if (name.find_first_not_of("0123456789abcdefABCDEF-") == std::string::npos)
    throw Error("invalid pod name " + quote(name) +
                ": a name of only hex digits and '-' would read as a pod's UUID (or the start of one)");
  // "crt-" and a UUID is the machine name of a pod without a name of its own
  // (PodManifest::machine_name()); a pod of that name would share its machine.
  if (sd_id128_t id; name.rfind("crt-", 0) == 0 && sd_id128_from_string(name.c_str() + 4, &id) == 0)
    throw Error("pod name " + quote(name) +
                " has the form of the machine names crt gives pods without a name (crt-UUID); choose another");
}

}  // namespace crt::pod
