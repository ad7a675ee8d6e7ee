#include "runtime/inspect.hpp"

#include <libmount.h>
#include <poll.h>
#include <sys/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/libmount.hpp"
#include "common/strings.hpp"
#include "mount/overlay.hpp"
#include "net/inspect.hpp"
#include "pod/manifest.hpp"
#include "runtime/app_process.hpp"
#include "runtime/images.hpp"
#include "runtime/spawn.hpp"
#include "store/store.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_or_empty(const stdfs::path& p) {
  try {
    return trim_end(fs::read_file(p), "\n");
  } catch (const Error&) {
    return {};
  }
}

json capability_names(uint64_t mask) {
  json names = json::array();
  for (int cap = 0; cap < 64; ++cap) {
    if ((mask & (1ULL << cap)) == 0) continue;
    char* n = cap_to_name(static_cast<cap_value_t>(cap));
    names.push_back(n != nullptr ? n : std::to_string(cap));
    cap_free(n);
  }
  return names;
}

json namespaces(pid_t pid) {
  json out = json::object();
  for (const char* kind : {"mnt", "pid", "net", "uts", "ipc", "cgroup", "user"}) {
    std::error_code ec;
    std::string app = stdfs::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + kind, ec).string();
    std::string host = stdfs::read_symlink(std::string("/proc/self/ns/") + kind, ec).string();
    out[kind] = {{"id", app}, {"differs_from_host", app != host}};
  }
  return out;
}

/// Memory and CPU figures of the app's cgroups, from cgroupfs, and the
/// directories of the cgroups that are the app's own ("cgroup_dirs"; on a
/// host with v1 controllers the pod's systemd puts them at paths of their
/// own, without the name=systemd hierarchy's "payload"). Where a hierarchy
/// has no cgroup of the app's own (the pod's systemd does not split cpuacct
/// from cpu on a host that mounts them apart), its figure is the pod's, and
/// says so ("pod_cpu_usage_nsec").
json resources(pid_t pid, const std::string& app) {
  json out = json::object();
  json dirs = json::array();
  std::string unit = "/" + app + ".service";
  for (const auto& m : cgroups_of(pid)) {
    stdfs::path dir = m.dir;
    bool own = m.path.size() >= unit.size() && m.path.compare(m.path.size() - unit.size(), unit.size(), unit) == 0;
    if (own) dirs.push_back(m.dir);
    if (m.v2) {
      out["cgroup"] = m.path;
      if (auto v = read_or_empty(dir / "memory.current"); !v.empty()) out["memory_current"] = v;
      if (auto v = read_or_empty(dir / "memory.max"); !v.empty()) out["memory_max"] = v;
      if (auto v = read_or_empty(dir / "cpu.max"); !v.empty()) out["cpu_max"] = v;
      std::istringstream stat(read_or_empty(dir / "cpu.stat"));
      for (std::string k, v; stat >> k >> v;)
        if (k == "usage_usec") out["cpu_usage_usec"] = v;
    } else if (m.controllers == "name=systemd") {
      out["cgroup"] = m.path;
    } else {
      if (m.controllers.find("memory") != std::string::npos) {
        out["memory_current"] = read_or_empty(dir / "memory.usage_in_bytes");
        out["memory_max"] = read_or_empty(dir / "memory.limit_in_bytes");
      }
      if (m.controllers.find("cpuacct") != std::string::npos)
        if (auto v = read_or_empty(dir / "cpuacct.usage"); !v.empty())
          out[own ? "cpu_usage_nsec" : "pod_cpu_usage_nsec"] = v;
      if ((("," + m.controllers + ",").find(",cpu,") != std::string::npos)) {
        out["cpu_quota_us"] = read_or_empty(dir / "cpu.cfs_quota_us");
        out["cpu_period_us"] = read_or_empty(dir / "cpu.cfs_period_us");
      }
    }
  }
  out["cgroup_dirs"] = dirs;
  return out;
}

/// Each mount's file system options (by mount ID) as mountinfo's text
/// has them: a ',', ' ' or '\\' inside a value is octal-escaped there
/// ("\\054"), so they split at ',' as they are. libmount gives them
/// unescaped, where a ',' of a "lowerdir+=" path cannot be told from theirs.
std::map<int, std::string> raw_fs_options(const std::string& mountinfo) {
  std::map<int, std::string> out;
  std::istringstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    size_t sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream fields(line.substr(sep + 3));
    std::string type, source, options;
    if (fields >> type >> source >> options) out[std::atoi(line.c_str())] = options;
  }
  return out;
}

/// A value of mountinfo with its octal escapes undone.
std::string unmangle(const std::string& value) {
  std::unique_ptr<char, decltype(&::free)> s(mnt_unmangle(value.c_str()), ::free);
  return s ? std::string(s.get()) : value;
}

/// The values of option `key` in mountinfo's file system options, unmangled.
std::vector<std::string> option_values(const std::string& opts, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& o : split(opts, ','))
    if (o.rfind(key + "=", 0) == 0) out.push_back(unmangle(o.substr(key.size() + 1)));
  return out;
}

std::string option(const std::string& opts, const std::string& key) {
  std::vector<std::string> v = option_values(opts, key);
  return v.empty() ? std::string() : v.front();
}

/// An overlay's layers, top first: "lowerdir=A:B", or, for one mounted layer
/// by layer (more layers than one page of options holds), the kernel's
/// "lowerdir+=A,lowerdir+=B" as "A:B".
std::string lower_dirs(const std::string& opts) {
  std::string out = option(opts, "lowerdir");
  for (const auto& l : option_values(opts, "lowerdir+")) out += (out.empty() ? "" : ":") + l;
  return out;
}

/// The app's mount table (libmount), overlays with their layers.
json mounts(pid_t pid) {
  json out = json::array();
  // One read for both: the table and the raw options name the same mounts.
  std::string text = read_or_empty("/proc/" + std::to_string(pid) + "/mountinfo");
  MntTable table = parse_mountinfo(text);
  std::map<int, std::string> raw = raw_fs_options(text);
  MntIter it(mnt_new_iter(MNT_ITER_FORWARD));
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table.get(), it.get(), &fs) == 0) {
    auto str = [](const char* s) { return std::string(s != nullptr ? s : ""); };
    json m = {{"target", str(mnt_fs_get_target(fs))},
              {"type", str(mnt_fs_get_fstype(fs))},
              {"source", str(mnt_fs_get_source(fs))},
              {"options", str(mnt_fs_get_vfs_options(fs))}};
    if (m["type"] == "overlay") {
      std::string super = raw[mnt_fs_get_id(fs)];
      m["lowerdir"] = lower_dirs(super);
      // The kernel shows the paths as crt gave them: "lowerdir=" and
      // "upperdir=" escaped, each "lowerdir+=" as it is.
      std::vector<std::string> given = option_values(super, "lowerdir");
      std::vector<std::string> lowers = given.empty() ? std::vector<std::string>() : mount::split_lowerdir(given[0]);
      for (const auto& l : option_values(super, "lowerdir+")) lowers.push_back(l);
      m["lowerdirs"] = lowers;
      m["upperdir"] = mount::unescape_option_path(option(super, "upperdir"));
    }
    out.push_back(m);
  }
  return out;
}

json environment(pid_t pid, bool show) {
  json out = json::array();
  std::string raw = read_or_empty("/proc/" + std::to_string(pid) + "/environ");
  size_t start = 0;
  for (size_t i = 0; i <= raw.size(); ++i) {
    if (i < raw.size() && raw[i] != '\0') continue;
    std::string kv = raw.substr(start, i - start);
    start = i + 1;
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string name = kv.substr(0, eq);
    if (!show && eq != std::string::npos && pod::looks_secret(name)) kv = name + "=***";
    out.push_back(kv);
  }
  return out;
}

/// The app's unit as crt wrote it, its Environment= lines of variables that
/// look secret masked as environment() masks them (crt writes one variable
/// per line, quoted: Environment="NAME=VALUE").
std::string unit_text(const std::string& unit, bool show) {
  if (show) return unit;
  constexpr std::string_view kEnv = "Environment=\"";
  std::string out;
  size_t start = 0;
  while (start < unit.size()) {
    size_t nl = unit.find('\n', start);
    size_t end = nl == std::string::npos ? unit.size() : nl + 1;
    std::string_view line(unit.data() + start, end - start);
    size_t eq = line.find('=', kEnv.size());
    if (line.substr(0, kEnv.size()) == kEnv && eq != std::string_view::npos &&
        pod::looks_secret(line.substr(kEnv.size(), eq - kEnv.size()))) {
      out.append(line.substr(0, eq + 1)).append("***\"");
      if (nl != std::string::npos) out += '\n';
    } else {
      out.append(line);
    }
    start = end;
  }
  return out;
}

json inspect_app(const PodEntry& pod, const pod::PodManifest& m, const pod::AppManifest& app, bool show_env,
                 const std::map<std::string, std::string>& image_names) {
  json a;
  a["name"] = app.name;
  a["image"] = app.image.name;
  a["image_id"] = app.image.id;
  a["image_moved"] = image_name_moved(app.image, image_names);
  a["unit"] = unit_text(read_or_empty(pod.path / "overlay/stage1/upper/etc/systemd/system" / (app.name + ".service")),
                        show_env);
  std::optional<pid_t> main_pid =
      pod.status() == PodStatus::kRunning ? app_main_pid(pod.path, m, app.name) : std::nullopt;
  // Held while the app is read, and asked at the end: an app that ended
  // meanwhile (or whose PID went to another process) is shown as not
  // running rather than with what /proc had left of it.
  const pid_t pid = main_pid.value_or(0);
  UniqueFd process = pid > 0 ? open_pidfd(pid) : UniqueFd();
  if (process.valid() && app_main_pid(pod.path, m, app.name).value_or(0) != pid) process = UniqueFd();
  a["running"] = process.valid();
  if (!process.valid()) return a;
  json not_running = a;
  not_running["running"] = false;
  auto st = proc_status(pid);
  a["pid"] = pid;
  a["namespaces"] = namespaces(pid);
  a["capabilities"] = {{"bounding", capability_names(status_mask(st, "CapBnd"))},
                       {"effective", capability_names(status_mask(st, "CapEff"))},
                       {"bounding_hex", st["CapBnd"]},
                       {"effective_hex", st["CapEff"]}};
  a["no_new_privs"] = st["NoNewPrivs"] == "1";
  a["seccomp"] = {{"mode", st["Seccomp"] == "2" ? "filter" : st["Seccomp"] == "1" ? "strict" : "disabled"},
                  {"filters", st.count("Seccomp_filters") ? std::stoi(st["Seccomp_filters"]) : 0}};
  auto effective = [](const std::string& ids) {  // "real effective saved fs"
    std::istringstream in(ids);
    long real = 0, eff = 0;
    in >> real >> eff;
    return eff;
  };
  json groups = json::array();
  std::istringstream gin(st["Groups"]);
  for (long g; gin >> g;) groups.push_back(g);
  a["user"] = {{"uid", effective(st["Uid"])}, {"gid", effective(st["Gid"])}, {"groups", groups}};
  a["resources"] = resources(pid, app.name);
  a["mounts"] = mounts(pid);
  // Before Linux 6.8 an overlay of more layers than one page of options
  // holds names them by the descriptors crt mounted it with: they are the
  // image's layers.
  for (auto& mnt : a["mounts"])
    if (mnt["target"] == "/" && mnt["type"] == "overlay" &&
        mnt["lowerdir"].get<std::string>().rfind("/proc/self/fd/", 0) == 0) {
      store::Store store(pod.path.parent_path().parent_path().parent_path());  // DIR/pods/STATE/UUID
      std::string lower;
      json lowers = json::array();
      for (const auto& t : mount::layers_top_first(store.tree_paths(app.image.layers))) {
        lower += (lower.empty() ? "" : ":") + t.string();
        lowers.push_back(t.string());
      }
      mnt["lowerdir"] = lower;
      mnt["lowerdirs"] = lowers;
    }
  a["environment"] = environment(pid, show_env);
  // A pidfd polls readable once its process has ended (a zombie too).
  pollfd ended{process.get(), POLLIN, 0};
  return ::poll(&ended, 1, 0) == 0 ? a : not_running;
}

}  // namespace

json inspect_pod(const PodEntry& pod, const std::string& app_name, bool show_env) {
  PodInfo info = pod_info(pod);
  if (!info.manifest)
    throw Error("pod " + pod.uuid +
                (info.manifest_error.empty() ? " has no manifest" : ": reading its manifest: " + info.manifest_error));
  json out;
  out["uuid"] = pod.uuid;
  out["name"] = info.manifest->name;
  out["machine"] = info.manifest->machine_name();
  out["state"] = status_name(pod.status());
  if (info.pid) out["pid"] = *info.pid;
  out["network"] = net::describe_pod_network(pod.path, *info.manifest);
  out["apps"] = json::array();
  auto names = store::image_names(pod.path.parent_path().parent_path().parent_path());  // DIR/pods/STATE/UUID
  // An app that is not running says how it ended, where that is recorded.
  auto add = [&](const pod::AppManifest& app) {
    json a = inspect_app(pod, *info.manifest, app, show_env, names);
    auto e =
        std::find_if(info.exits.begin(), info.exits.end(), [&](const pod::AppExit& x) { return x.app == app.name; });
    if (!a["running"].get<bool>() && e != info.exits.end())
      a["ended"] = {{"status", e->status},
                    {"exit_code", e->exit_code},
                    {"exit_status", e->exit_status},
                    {"result", e->result},
                    {"restarts", e->restarts}};
    out["apps"].push_back(std::move(a));
  };
  if (!app_name.empty()) {
    add(pick_app(*info.manifest, app_name));
  } else {
    for (const auto& a : info.manifest->apps) add(a);
  }
  return out;
}

bool is_no_limit(std::string_view key, std::string_view value) {
  if (key == "memory_max") {
    if (value == "max") return true;
    // cgroup v1 reports its largest page count in bytes.
    uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    return value == std::to_string(static_cast<uint64_t>(INT64_MAX) / page * page);
  }
  if (key == "cpu_quota_us") return value == "-1";
  if (key == "cpu_max") return value.starts_with("max ");
  return false;
}

}  // namespace crt::runtime
