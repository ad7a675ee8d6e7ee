#include "runtime/app_process.hpp"

#include <sys/stat.h>

#include <charconv>
#include <csignal>
#include <filesystem>
#include <set>
#include <sstream>

#include "cgroup/cgroup.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "runtime/pod_dir.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

namespace {

void find_dirs(const stdfs::path& dir, const std::string& leaf, std::vector<stdfs::path>& out) {
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec)) {
    if (!de.is_directory(ec) || de.is_symlink(ec)) continue;
    if (de.path().filename() == leaf) out.push_back(de.path());
    find_dirs(de.path(), leaf, out);
  }
}

std::optional<pid_t> parent_of(pid_t pid) {
  auto status = proc_status(pid);
  if (auto it = status.find("PPid"); it != status.end()) return static_cast<pid_t>(std::stol(it->second));
  return std::nullopt;
}

/// Whether `pid` runs a program from outside stage1, as the app does once
/// systemd has sandboxed it and executed its program. Its service cgroup also
/// holds the pod's systemd's own child before that exec (not yet
/// sandboxed), and the app's exit recorder (ExecStopPost=+, a stage1
/// program with stage1's privileges): both run what their parent, the pod's
/// systemd, runs from, stage1's file system.
bool runs_program_from_outside_stage1(pid_t pid, pid_t parent) {
  struct stat mine {};
  struct stat parents {};
  return ::stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &mine) == 0 &&
         ::stat(("/proc/" + std::to_string(parent) + "/exe").c_str(), &parents) == 0 && mine.st_dev != parents.st_dev;
}

}  // namespace

std::map<std::string, std::string> proc_status(pid_t pid) {
  std::map<std::string, std::string> out;
  std::string text;
  try {
    text = fs::read_file("/proc/" + std::to_string(pid) + "/status");
  } catch (const Error&) {
    return out;
  }
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[line.substr(0, colon)] = trim_start(std::string_view(line).substr(colon + 1), " \t");
  }
  return out;
}

uint64_t status_mask(const std::map<std::string, std::string>& status, const std::string& field, uint64_t missing) {
  auto it = status.find(field);
  if (it == status.end()) return missing;
  uint64_t v = 0;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return ec == std::errc() && end != s.data() && end == s.data() + s.size() ? v : missing;
}

bool takes_orderly_stop(pid_t leader) {
  auto status = proc_status(leader);
  if (status.empty()) return true;  // gone: nspawn ends by itself
  auto mask = [&](const char* field) { return status_mask(status, field, ~0ULL); };
  auto has = [](uint64_t m, int sig) { return ((m >> (sig - 1)) & 1) != 0; };
  uint64_t blocked = mask("SigBlk");
  // Blocking everything (around a fork) is not listening: then the signal
  // would be dropped when unblocked. systemd's own mask leaves SIGSEGV out.
  return has(mask("SigCgt"), SIGRTMIN + 3) || (has(blocked, SIGRTMIN + 3) && !has(blocked, SIGSEGV));
}

const pod::AppManifest& pick_app(const pod::PodManifest& m, const std::string& name) {
  if (name.empty()) {
    if (m.apps.size() == 1) return m.apps.front();
    std::string names;
    for (const auto& a : m.apps) names += (names.empty() ? "" : ", ") + a.name;
    throw Error("pod " + m.uuid + " has several apps (" + names + "): say which with --app=NAME");
  }
  for (const auto& a : m.apps)
    if (a.name == name) return a;
  throw Error("pod " + m.uuid + " has no app " + quote(name));
}

std::optional<pid_t> app_main_pid(const std::filesystem::path& pod_dir, const pod::PodManifest& m,
                                  const std::string& app) {
  // Recorded where crt run runs in a unit of the host's systemd (crt@.service,
  // --detach); a pod of an older crt ran in its machine's scope.
  std::optional<CgroupRecord> r = read_cgroup_record(pod_dir);
  return app_main_pid(
      cgroup::PodCgroup(cgroup::detect_layout(), r ? r->relative : cgroup::PodCgroup::relative_path(m.machine_name())),
      app);
}

std::optional<pid_t> app_main_pid(const cgroup::PodCgroup& cg, const std::string& app) {
  for (const auto& top : cg.paths()) {
    std::vector<stdfs::path> dirs;
    find_dirs(top, app + ".service", dirs);
    for (const auto& d : dirs) {
      std::set<pid_t> pids;
      std::string procs;
      try {
        procs = fs::read_file(d / "cgroup.procs");
      } catch (const Error&) {
        continue;  // the app ended (or restarts) meanwhile: its cgroup went
      }
      std::istringstream in(procs);
      for (pid_t p; in >> p;) pids.insert(p);
      for (pid_t p : pids) {
        auto parent = parent_of(p);
        if (parent && pids.count(*parent) == 0 && runs_program_from_outside_stage1(p, *parent)) return p;
      }
    }
  }
  return std::nullopt;
}

std::vector<CgroupMembership> cgroups_of(pid_t pid) {
  cgroup::Layout layout = cgroup::detect_layout();
  std::vector<CgroupMembership> out;
  std::istringstream in(fs::read_file("/proc/" + std::to_string(pid) + "/cgroup"));
  for (std::string line; std::getline(in, line);) {
    size_t a = line.find(':');
    size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    CgroupMembership m{line.substr(a + 1, b - a - 1), line.substr(b + 1), {}, false};
    for (const auto& h : layout.hierarchies) {
      std::string joined;
      for (const auto& c : h.controllers) joined += (joined.empty() ? "" : ",") + c;
      if (h.v2 ? !m.controllers.empty() : joined != m.controllers) continue;
      m.dir = h.mount_point.string() + m.path;
      m.v2 = h.v2;
      out.push_back(std::move(m));
      break;
    }
  }
  return out;
}

}  // namespace crt::runtime
