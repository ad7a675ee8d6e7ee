#include "podfile/pod_unit.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "common/duration.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "config/crt_conf.hpp"
#include "pod/app_config.hpp"
#include "pod/manifest.hpp"
#include "pod/net_options.hpp"
#include "pod/resources.hpp"
#include "pod/run_args.hpp"
#include "pod/units.hpp"
#include "pod/volumes.hpp"
#include "registry/reference.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/seccomp.hpp"
#include "store/image.hpp"
#include "unit/escape.hpp"

namespace crt::podfile {

namespace {

using unit::Value;

enum class Kind { kOnce, kList };

/// What a key of [Pod] or [App NAME] becomes: a crt run option (or, for the
/// pod's own limits, a setting of the unit), and how its value is checked.
struct KeySpec {
  const char* key;
  const char* option;  ///< "--net" …; nullptr: handled by hand
  Kind kind;
  void (*check)(const std::string&);
};

void any(const std::string&) {}

void no_space(const std::string& v) {
  if (v.find_first_of(" \t") != std::string::npos) throw Error("must not contain spaces");
}

void memory(const std::string& v) { pod::parse_memory(v); }
void allow_namespaces(const std::string& v) {
  no_space(v);
  sandbox::parse_allowed_namespaces(v);
}
void seccomp(const std::string& v) {
  no_space(v);
  sandbox::parse_syscall_filter(v);
}
void cpu(const std::string& v) { pod::parse_cpu_millis(v); }

void one_of(const std::string& v, std::initializer_list<const char*> ok) {
  for (const char* o : ok)
    if (v == o) return;
  std::string list;
  for (const char* o : ok) list += (list.empty() ? "" : ", ") + std::string(o);
  throw Error(quote(v) + " is not one of " + list);
}

void exit_policy(const std::string& v) { one_of(v, {"on-any-failure", "on-any-exit", "on-all-exit"}); }
void restart(const std::string& v) { one_of(v, {"no", "on-failure", "always"}); }
void boolean(const std::string& v) {
  if (!pod::is_yes_no_word(v)) throw Error(quote(v) + " is not one of " + pod::kYesNoWords);
}

void oom_score_adj(const std::string& v) { pod::parse_oom_score_adj(v); }
void cpu_shares(const std::string& v) { pod::parse_cpu_shares(v); }
void pids_limit(const std::string& v) { pod::parse_pids_limit(v); }
void gid_list(const std::string& v) { pod::parse_supplementary_gids(v); }
void pull_policy(const std::string& v) { one_of(v, {"never", "missing", "always"}); }
void stop_timeout(const std::string& v) {
  if (parse_duration(v).count() <= 0) throw Error("must be longer than 0");
}

void env(const std::string& v) { pod::check_assignment(v, "variable"); }

void hostname(const std::string& v) { pod::validate_host_name("host name", v); }

/// The units crt ships to the host (host-units/). A pod's crt-NAME.service
/// of one of their names would hide crt's own: crt-gc.timer would start the
/// pod instead of crt gc.
const char* const kShippedUnits[] = {"crt-gc.service", "crt-gc.timer", "crt@.service"};

std::string unit_name_of(const std::string& pod) { return "crt-" + pod + ".service"; }

void pod_name(const std::string& v) {
  pod::validate_pod_name(v);
  for (const char* shipped : kShippedUnits)
    if (unit_name_of(v) == shipped)
      throw Error("invalid pod name " + quote(v) + ": its unit " + quote(shipped) + " would hide the one crt ships");
}

void net_spec(const std::string& v) { pod::parse_net_spec(v); }
void port(const std::string& v) { pod::parse_port_spec(v); }
void hosts_entry(const std::string& v) { pod::parse_hosts_entry(v); }

void ip_address(const std::string& v) {
  if (!pod::is_ip_address(v)) throw Error(quote(v) + " is not an IP address");
}

void volume(const std::string& v) { pod::parse_volume(v); }
void mount(const std::string& v) { pod::parse_mount(v); }

/// crt-generator puts the image where crt run takes one, among options.
void image(const std::string& v) {
  no_space(v);
  if (v.front() == '-') throw Error("an image name cannot start with '-'");
  // As crt run would refuse it: a registry's reference, else a name (an ID
  // or a digest is looked up when the pod runs).
  if (!registry::parse_remote_reference(v) && !pod::is_image_id(v) && v.find('@') == std::string::npos)
    (void)store::parse_reference(v);
}

/// A path, or a name crt run looks up in the app's $PATH (--exec).
void binary(const std::string& v) {
  if (v.empty()) throw Error("names no binary");
}

void absolute(const std::string& v) {
  if (v.empty() || v.front() != '/') throw Error("must be an absolute path");
}

const KeySpec kPodKeys[] = {
    {"Name", nullptr, Kind::kOnce, pod_name},
    {"Network", "--net", Kind::kOnce, net_spec},
    {"Port", "--port", Kind::kList, port},
    {"DNS", "--dns", Kind::kList, ip_address},
    {"DNSSearch", "--dns-search", Kind::kList, no_space},
    {"DNSOption", "--dns-opt", Kind::kList, no_space},
    {"HostsEntry", "--hosts-entry", Kind::kList, hosts_entry},
    {"Hostname", "--hostname", Kind::kOnce, hostname},
    {"ExitPolicy", "--exit-policy", Kind::kOnce, exit_policy},
    {"Volume", "--volume", Kind::kList, volume},
    {"Environment", "--set-env", Kind::kList, env},
    {"EnvironmentFile", "--set-env-file", Kind::kList, absolute},
    {"PullPolicy", "--pull-policy", Kind::kOnce, pull_policy},
    {"InsecureRegistry", "--insecure-registry", Kind::kList, no_space},
    {"AuthFile", "--authfile", Kind::kList, absolute},
    {"CAFile", "--ca-file", Kind::kOnce, absolute},
    {"StopTimeout", "--stop-timeout", Kind::kOnce, stop_timeout},
    {"InheritEnvironment", "--inherit-env", Kind::kOnce, boolean},
    {"Remove", "--rm", Kind::kOnce, boolean},
    {"Memory", nullptr, Kind::kOnce, memory},
    {"CPU", nullptr, Kind::kOnce, cpu},
};

const KeySpec kAppKeys[] = {
    {"Image", nullptr, Kind::kOnce, image},
    {"Exec", "--exec", Kind::kOnce, binary},
    {"Args", nullptr, Kind::kOnce, any},
    {"Environment", "--environment", Kind::kList, env},
    {"User", "--user", Kind::kOnce, no_space},
    {"Group", "--group", Kind::kOnce, no_space},
    {"WorkingDirectory", "--working-dir", Kind::kOnce, absolute},
    {"Mount", "--mount", Kind::kList, mount},
    {"Memory", "--memory", Kind::kOnce, memory},
    {"CPU", "--cpu", Kind::kOnce, cpu},
    {"CapsRetain", "--caps-retain", Kind::kOnce, no_space},  // and check_app_as_a_whole()
    {"CapsRemove", "--caps-remove", Kind::kOnce, no_space},
    {"AllowNamespaces", "--allow-namespaces", Kind::kOnce, allow_namespaces},
    {"Seccomp", "--seccomp", Kind::kOnce, seccomp},
    {"Restart", "--restart", Kind::kOnce, restart},
    {"Notify", "--notify", Kind::kOnce, boolean},
    {"ReadOnlyRootfs", "--readonly-rootfs", Kind::kOnce, boolean},
    {"SupplementaryGroups", "--supplementary-gids", Kind::kOnce, gid_list},
    {"OOMScoreAdjust", "--oom-score-adj", Kind::kOnce, oom_score_adj},
    {"CPUShares", "--cpu-shares", Kind::kOnce, cpu_shares},
    {"TasksMax", "--pids-limit", Kind::kOnce, pids_limit},
};

/// [Service] settings crt-generator makes of [Pod] keys.
const std::pair<const char*, const char*> kFromPodKeys[] = {{"MemoryMax", "Memory"}, {"CPUQuota", "CPU"}};

template <size_t N>
const KeySpec* find_key(const KeySpec (&table)[N], const std::string& key) {
  for (const auto& k : table)
    if (key == k.key) return &k;
  return nullptr;
}

void check_text(const PodFile& f, const Setting& s) {
  for (unsigned char c : s.value)
    if (c < 0x20 || c == 0x7f) throw PodFileError(f.path, s.line, s.key, "control characters are not allowed");
  try {
    // UTF-8. Quoted as a word, as crt-generator writes [Pod] and [App]
    // values: a trailing backslash is fine there.
    unit::escape_word(Value(s.value), unit::WordStyle::kQuoted, false);
  } catch (const Error& e) {
    throw PodFileError(f.path, s.line, s.key, e.what());
  }
}

/// Checks a section's settings against `table`; returns them by key.
template <size_t N>
std::map<std::string, std::vector<const Setting*>> checked(const PodFile& f, const Section& sec, const KeySpec (&table)[N]) {
  std::map<std::string, std::vector<const Setting*>> out;
  std::string where = sec.name == "App" ? "[App " + sec.app + "]" : "[" + sec.name + "]";
  for (const auto& s : sec.settings) {
    const KeySpec* spec = find_key(table, s.key);
    if (spec == nullptr) throw PodFileError(f.path, s.line, s.key, "unknown key in " + where);
    check_text(f, s);
    if (s.value.empty() && s.key != "Args") throw PodFileError(f.path, s.line, s.key, "empty value");
    auto& v = out[s.key];
    if (spec->kind == Kind::kOnce && !v.empty())
      throw PodFileError(f.path, s.line, s.key, "given twice (first on line " + std::to_string(v.front()->line) + ")");
    try {
      spec->check(s.value);
    } catch (const PodFileError&) {
      throw;
    } catch (const Error& e) {
      throw PodFileError(f.path, s.line, s.key, e.what());
    }
    v.push_back(&s);
  }
  return out;
}

template <size_t N>
void add_options(std::vector<std::string>& args, const std::map<std::string, std::vector<const Setting*>>& got,
                 const KeySpec (&table)[N]) {
  for (const auto& spec : table) {
    if (spec.option == nullptr) continue;
    auto it = got.find(spec.key);
    if (it == got.end()) continue;
    for (const Setting* s : it->second) args.push_back(std::string(spec.option) + "=" + s->value);
  }
}

std::vector<const Section*> sections_named(const PodFile& f, const std::string& name) {
  std::vector<const Section*> out;
  for (const auto& s : f.sections)
    if (s.name == name) out.push_back(&s);
  return out;
}

const Setting* single(const std::map<std::string, std::vector<const Setting*>>& got, const char* key) {
  auto it = got.find(key);
  return it == got.end() ? nullptr : it->second.front();
}

std::string pod_name_of(const PodFile& f) {
  for (const Section* s : sections_named(f, "Pod"))
    for (const auto& st : s->settings)
      if (st.key == "Name") return st.value;
  try {
    pod_name(f.name);
  } catch (const Error& e) {
    throw PodFileError(f.path, 0, "",
                       std::string("the pod name from the file name: ") + e.what() + "; set Name= in [Pod]");
  }
  return f.name;
}

/// Copies the user's settings of `sec` into `out`; `own` are the keys
/// crt-generator has set there, which the user's would override.
void add_passthrough(const PodFile& f, const Section& sec, unit::Section& out, const std::set<std::string>& own) {
  for (const auto& s : sec.settings) {
    if (own.count(s.key) != 0) {
      std::string from;
      for (const auto& [key, pod_key] : kFromPodKeys)
        if (s.key == key) from = std::string(" from ") + pod_key + "= in [Pod]";
      throw PodFileError(f.path, s.line, s.key,
                         "set by crt-generator" + from + "; it cannot be changed in [" + sec.name + "]");
    }
    check_text(f, s);
    // Unit settings are the user's own systemd syntax: specifiers and all.
    out.set(s.key, unit::Verbatim{s.value});
  }
}

std::vector<std::string> unit_names(const PodFile& f, const Setting& s) {
  std::vector<std::string> out;
  try {
    out = split_words(s.value);
  } catch (const Error& e) {
    throw PodFileError(f.path, s.line, s.key, e.what());
  }
  for (const auto& n : out) {
    // systemd's own WantedBy= is a list of words too; a comma would make one bogus name.
    if (n.find(',') != std::string::npos)
      throw PodFileError(
          f.path, s.line, s.key,
          quote(n) + ": unit names are separated by spaces (or given on several " + s.key + "= lines), not commas");
    try {
      unit::validate_unit_name(n);
    } catch (const Error& e) {
      throw PodFileError(f.path, s.line, s.key, e.what());
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else if (c == '"' || c == '\'') {
      size_t end = i + 1;
      for (; end < s.size() && s[end] != c; ++end) {
        if (c == '"' && s[end] == '\\' && end + 1 < s.size()) ++end;
        cur += s[end];
      }
      if (end >= s.size()) throw Error("unterminated quote");
      i = end;
      in_word = true;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

namespace {

using Got = std::map<std::string, std::vector<const Setting*>>;

/// Ports are forwarded to the pod's own network; Network=host and none have none.
void check_ports_have_a_network(const PodFile& f, const Got& got) {
  auto ports = got.find("Port");
  const Setting* net = single(got, "Network");
  if (ports == got.end() || ports->second.empty() || net == nullptr || pod::parse_net_spec(net->value).cni()) return;
  const Setting* p = ports->second.front();
  throw PodFileError(f.path, p->line, p->key, "ports are forwarded to the pod's own network; Network=" + net->value +
                                                  " has none");
}

/// Runs `check`, which crt run also calls, on an app's settings that it
/// takes together; its error is said at the last of them given.
void together(const PodFile& f, std::initializer_list<const Setting*> settings, const std::function<void()>& check) {
  const Setting* last = nullptr;
  for (const Setting* s : settings)
    if (s != nullptr && (last == nullptr || s->line > last->line)) last = s;
  if (last == nullptr) return;
  try {
    check();
  } catch (const Error& e) {
    throw PodFileError(f.path, last->line, last->key, e.what());
  }
}

std::optional<std::string> value_of(const Setting* s) {
  return s == nullptr ? std::nullopt : std::optional<std::string>(s->value);
}

/// What crt run refuses of an app's keys together, with crt run's own checks.
void check_app_as_a_whole(const PodFile& f, const Section& sec, const Got& got) {
  const Setting* retain = single(got, "CapsRetain");
  const Setting* remove = single(got, "CapsRemove");
  together(f, {retain, remove}, [&] { sandbox::resolve_capabilities(value_of(retain), value_of(remove)); });
  const Setting* user = single(got, "User");
  const Setting* group = single(got, "Group");
  together(f, {user, group}, [&] { pod::app_user(value_of(user), value_of(group), ""); });
  std::vector<pod::VolumeMount> mounts;
  if (auto mt = got.find("Mount"); mt != got.end())
    for (const Setting* st : mt->second) {
      mounts.push_back(pod::parse_mount(st->value));
      together(f, {st}, [&] { pod::check_mount_targets(sec.app, mounts); });
    }
}

/// crt run's pod::check_ports_unique(), said at the second port's line.
void check_ports_unique(const PodFile& f, const Got& got) {
  auto p = got.find("Port");
  if (p == got.end()) return;
  std::vector<std::pair<pod::PortMapping, int>> seen;
  for (const Setting* st : p->second) {
    pod::PortSpec spec = pod::parse_port_spec(st->value);
    if (!spec.name.empty()) continue;  // its protocol is the image's
    pod::PortMapping port = pod::resolve_port(spec, {});
    for (const auto& [other, line] : seen)
      if (auto clash = pod::port_clash(port, other))
        throw PodFileError(f.path, st->line, st->key,
                           *clash + " is given twice (first on line " + std::to_string(line) + ")");
    seen.emplace_back(port, st->line);
  }
}

}  // namespace

std::vector<std::string> run_args(const PodFile& f) {
  std::vector<std::string> args = {"--pod-name=" + pod_name_of(f)};
  std::set<std::string> volumes;
  for (const Section* s : sections_named(f, "Pod")) {
    auto got = checked(f, *s, kPodKeys);
    check_ports_have_a_network(f, got);
    add_options(args, got, kPodKeys);
    // What crt run refuses as a whole, said at its line.
    if (auto v = got.find("Volume"); v != got.end())
      for (const Setting* st : v->second)
        if (std::string name = pod::parse_volume(st->value).name; !volumes.insert(name).second)
          throw PodFileError(f.path, st->line, st->key, "a second volume named " + quote(name));
    check_ports_unique(f, got);
  }
  auto apps = sections_named(f, "App");
  if (apps.empty()) throw PodFileError(f.path, 0, "", "no [App NAME] section: a pod needs at least one app");
  std::set<std::string> seen;
  for (size_t i = 0; i < apps.size(); ++i) {
    const Section& sec = *apps[i];
    try {
      pod::validate_app_name(sec.app);
    } catch (const Error& e) {
      throw PodFileError(f.path, sec.line, "[App " + sec.app + "]", e.what());
    }
    if (!seen.insert(sec.app).second) throw PodFileError(f.path, sec.line, "[App " + sec.app + "]", "a second app of that name");
    auto got = checked(f, sec, kAppKeys);
    check_app_as_a_whole(f, sec, got);
    const Setting* image = single(got, "Image");
    if (image == nullptr) throw PodFileError(f.path, sec.line, "[App " + sec.app + "]", "Image= is missing");
    if (i > 0) args.emplace_back("---");
    args.push_back(image->value);
    args.push_back("--name=" + sec.app);
    add_options(args, got, kAppKeys);
    if (auto mt = got.find("Mount"); mt != got.end())
      for (const Setting* st : mt->second)
        if (std::string v = pod::parse_mount(st->value).volume; volumes.count(v) == 0)
          throw PodFileError(f.path, st->line, st->key, "volume " + quote(v) + " is not defined (Volume= in [Pod])");
    if (const Setting* a = single(got, "Args")) {
      std::vector<std::string> words;
      try {
        words = split_words(a->value);
      } catch (const Error& e) {
        throw PodFileError(f.path, a->line, a->key, e.what());
      }
      // crt run would start another app there; it has no way to pass it.
      if (std::find(words.begin(), words.end(), "---") != words.end())
        throw PodFileError(f.path, a->line, a->key, "'---' cannot be an argument (crt run starts the next app there)");
      args.emplace_back("--");
      args.insert(args.end(), words.begin(), words.end());
    }
  }
  return args;
}

PodUnit pod_unit(const PodFile& f, const std::string& crt_binary) {
  std::vector<std::string> args = run_args(f);
  std::string name = pod_name_of(f);
  PodUnit pu;
  pu.name = unit_name_of(name);
  unit::UnitFile& u = pu.unit;
  u.comments = {"Automatically generated by crt-generator from a pod file (crt.pod(5)); edit that file instead."};
  bool own_description = false;
  for (const Section* s : sections_named(f, "Unit"))
    for (const auto& st : s->settings) own_description = own_description || st.key == "Description";
  auto& unit_section = u.section("Unit");
  if (!own_description) unit_section.set("Description", "crt pod " + name);
  // systemd ignores a relative SourcePath= (a file given to --dry-run or
  // pod-file validate by a relative path).
  std::error_code ec;
  std::filesystem::path source = std::filesystem::absolute(f.path, ec).lexically_normal();
  unit_section.set("Documentation", "man:crt.pod(5) man:crt(1)").set("SourcePath", ec ? f.path : source.string());
  std::map<std::string, std::vector<const Setting*>> pod_keys;  // [Pod]; run_args() has checked it whole
  for (const Section* s : sections_named(f, "Pod"))
    for (auto& [key, settings] : checked(f, *s, kPodKeys))
      pod_keys[key].insert(pod_keys[key].end(), settings.begin(), settings.end());
  // An image may have to be pulled at boot, unless PullPolicy=never.
  const Setting* pull_policy = single(pod_keys, "PullPolicy");
  bool pulls = pull_policy == nullptr || pull_policy->value != "never";
  // What crt run reads from the host at start must be mounted by then.
  std::vector<Value> mounts_for = {Value(config::kDefaultStoreDir)};
  for (const Setting* st : pod_keys["Volume"])
    if (pod::Volume vol = pod::parse_volume(st->value); vol.kind == "host")
      mounts_for.emplace_back(fs::normal_path(vol.source));  // systemd ignores a path with "." or ".."
  for (const char* key : {"EnvironmentFile", "AuthFile", "CAFile"})
    for (const Setting* st : pod_keys[key]) mounts_for.emplace_back(fs::normal_path(st->value));
  // crt-gc.timer removes the exited pod each start of the unit leaves. At
  // shutdown the pod stops before the bus and machined it unregisters with.
  unit_section.set("Wants", pulls ? "network-online.target crt-gc.timer" : "crt-gc.timer")
      .set("After", std::string(pulls ? "network-online.target" : "network.target") +
                        " dbus.service systemd-machined.service")
      .set_words("RequiresMountsFor", unit::WordStyle::kQuoted, mounts_for);
  auto& svc = u.section("Service");
  svc.set("Type", "notify")
      .set("NotifyAccess", "main")
      .set("Slice", "machine.slice")
      .set("Delegate", "yes")
      .set("KillMode", "mixed")
      .set("CPUAccounting", "yes")
      .set("MemoryAccounting", "yes")
      .set("TasksAccounting", "yes")
      .set("DevicePolicy", "closed");
  for (const auto& [device, access] : pod::host_unit_devices(true)) svc.set("DeviceAllow", device + " " + access);
  if (const Setting* m = single(pod_keys, "Memory")) svc.set("MemoryMax", std::to_string(pod::parse_memory(m->value)));
  if (const Setting* c = single(pod_keys, "CPU"))
    svc.set("CPUQuota", unit::Verbatim{pod::cpu_quota(pod::parse_cpu_millis(c->value))});
  unit::ExecCommand exec{"", crt_binary, {Value("crt"), Value("run")}};
  for (const auto& a : args) exec.argv.emplace_back(a);
  svc.set_exec("ExecStart", exec);
  // [Unit]'s After= adds to crt-generator's, and Description= replaces it.
  for (const Section* s : sections_named(f, "Unit")) add_passthrough(f, *s, u.section("Unit"), {});
  std::set<std::string> own;
  for (const auto& e : svc.entries) own.insert(e.key);
  // More devices, or another policy, are the admin's to give.
  own.erase("DevicePolicy");
  own.erase("DeviceAllow");
  bool own_stop_timeout = false;
  for (const Section* s : sections_named(f, "Service")) {
    add_passthrough(f, *s, svc, own);
    for (const auto& st : s->settings)
      own_stop_timeout = own_stop_timeout || st.key == "TimeoutStopSec" || st.key == "TimeoutSec";
  }
  // crt run kills the pod StopTimeout= (or its default) after SIGTERM, then
  // cleans up: systemd is to wait that long for a crt run that hangs, no
  // more (its own default is 90s), as crt@.service does.
  if (!own_stop_timeout) {
    const Setting* t = single(pod_keys, "StopTimeout");
    std::chrono::milliseconds stop = t != nullptr ? parse_duration(t->value) : pod::kDefaultStopTimeout;
    svc.set("TimeoutStopSec", pod::systemd_duration(stop + pod::kStopCleanup));
  }
  for (const Section* s : sections_named(f, "Install")) {
    for (const auto& st : s->settings) {
      check_text(f, st);
      auto names = unit_names(f, st);
      if (st.key == "WantedBy")
        pu.wanted_by.insert(pu.wanted_by.end(), names.begin(), names.end());
      else if (st.key == "RequiredBy")
        pu.required_by.insert(pu.required_by.end(), names.begin(), names.end());
      else
        throw PodFileError(f.path, st.line, st.key, "unknown key in [Install] (WantedBy, RequiredBy)");
    }
  }
  return pu;
}

std::vector<std::string> refused_pod_names(const std::filesystem::path& path) {
  auto valid = [](const std::string& n) {
    try {
      pod_name(n);
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  std::vector<std::string> names;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    try {
      PodFile f = read(path.string());
      for (const Section* s : sections_named(f, "Pod"))
        for (const auto& st : s->settings)
          if (st.key == "Name" && names.empty() && valid(st.value)) names.push_back(st.value);
    } catch (const Error&) {
      // Not parsed as far as its name: the file name stands for it.
    }
  }
  std::string stem = path.filename().string();
  if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".pod") == 0) stem.resize(stem.size() - 4);
  if (valid(stem) && std::find(names.begin(), names.end(), stem) == names.end()) names.push_back(stem);
  return names;
}

namespace {

/// `text` as a one-line value systemd takes: control characters as spaces,
/// and, in a text that is not UTF-8, every byte past ASCII as '?'.
std::string one_line(std::string text) {
  bool utf8 = json_text::is_utf8(text);
  for (char& c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
    if (u >= 0x80 && !utf8) c = '?';
  }
  return text;
}

}  // namespace

PodUnit refused_pod_unit(const std::string& name, const std::string& path, const std::string& why,
                         const std::string& crt_binary) {
  PodUnit pu;
  pu.name = unit_name_of(name);
  unit::UnitFile& u = pu.unit;
  u.comments = {"Automatically generated by crt-generator in the stead of a pod file (crt.pod(5)) it refused;",
                "fix that file, then run 'systemctl daemon-reload'."};
  std::error_code ec;
  std::filesystem::path source = std::filesystem::absolute(path, ec).lexically_normal();
  // The reason in the description too: `systemctl status` of a unit never
  // started shows no journal, only that.
  u.section("Unit")
      .set("Description", "crt pod " + name + ": pod file refused: " + trim(one_line(why), " \\"))
      .set("Documentation", "man:crt.pod(5) man:crt(1)")
      .set("SourcePath", ec ? path : source.string());
  u.section("Service")
      .set("Type", "oneshot")
      .set_exec("ExecStart", unit::ExecCommand{"",
                                               crt_binary,
                                               {Value("crt"), Value("pod-file"), Value("refused"), Value("--"),
                                                Value(path), Value(why)}});
  return pu;
}

}  // namespace crt::podfile
