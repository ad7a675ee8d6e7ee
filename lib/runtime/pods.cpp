#include "runtime/pods.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/lock.hpp"
#include "runtime/pod_systemctl.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

const char* status_name(PodStatus s) {
  switch (s) {
    case PodStatus::kPreparing: return "preparing";
    case PodStatus::kAbortedPrepare: return "aborted prepare";
    case PodStatus::kPrepared: return "prepared";
    case PodStatus::kRunning: return "running";
    case PodStatus::kExited: return "exited";
    case PodStatus::kExitedGarbage: return "exited garbage";
    case PodStatus::kGarbage: return "garbage";
    case PodStatus::kDeleting: return "deleting";
  }
  return "?";
}

PodStatus PodEntry::status() const {
  switch (dir_state) {
    case PodState::kPrepare: return locked ? PodStatus::kPreparing : PodStatus::kAbortedPrepare;
    case PodState::kPrepared: return locked ? PodStatus::kPreparing : PodStatus::kPrepared;
    case PodState::kRun: return locked ? PodStatus::kRunning : PodStatus::kExited;
    case PodState::kExitedGarbage: return locked ? PodStatus::kDeleting : PodStatus::kExitedGarbage;
    case PodState::kGarbage: return locked ? PodStatus::kDeleting : PodStatus::kGarbage;
  }
  return PodStatus::kGarbage;
}

bool is_pod_uuid(std::string_view name) {
  if (name.size() != 36) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = name[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<PodEntry> list_pods(const stdfs::path& state_dir) {
  std::vector<PodEntry> out;
  for (PodState s : {PodState::kPrepare, PodState::kPrepared, PodState::kRun, PodState::kExitedGarbage,
                     PodState::kGarbage}) {
    std::error_code ec;
    for (const auto& de : stdfs::directory_iterator(state_dir / "pods" / state_dir_name(s), ec)) {
      if (!is_pod_uuid(de.path().filename().native())) continue;
      PodEntry e{de.path().filename().string(), s, de.path(), false};
      int fd = ::open(de.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) continue;  // removed meanwhile
      e.locked = !FileLock::try_acquire(UniqueFd(fd), FileLock::Mode::kShared).valid();
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::optional<net::LockedPod> lock_pod_of_network(const stdfs::path& state_dir, const std::string& id) {
  if (id.rfind("crt-", 0) != 0) return std::nullopt;
  for (const auto& e : list_pods(state_dir)) {
    if (e.uuid != id.substr(4)) continue;
    // Held, or moved or removed since it was listed: left alone all the same.
    try {
      std::optional<PodDir> dir = PodDir::try_lock(state_dir, e.uuid, e.dir_state);
      if (!dir) return net::LockedPod{FileLock(), e.path};
      return net::LockedPod{std::move(dir->lock()), dir->path()};
    } catch (const Error&) {
      return net::LockedPod{FileLock(), e.path};
    }
  }
  return std::nullopt;
}

std::optional<pod::PodManifest> read_manifest(const stdfs::path& pod_path) {
  std::string ignored;
  return read_manifest(pod_path, ignored);
}

std::optional<pod::PodManifest> read_manifest(const stdfs::path& pod_path, std::string& error) {
  try {
    return pod::parse_manifest(fs::read_file(pod_path / "pod.json"));
  } catch (const SystemError& e) {
    if (e.code() != ENOENT) error = e.what();
  } catch (const Error& e) {
    error = e.what();
  }
  return std::nullopt;
}

namespace {

/// Restart counts of running apps that have a restart policy, asked of the
/// pod's systemd; empty if it cannot be asked.
std::map<std::string, uint64_t> live_restarts(pid_t nspawn, const pod::PodManifest& m,
                                              const std::vector<pod::AppExit>& exits) {
  std::map<std::string, uint64_t> out;
  std::vector<std::string> apps;
  for (const auto& a : m.apps) {
    bool exited = std::any_of(exits.begin(), exits.end(), [&](const pod::AppExit& x) { return x.app == a.name; });
    if (a.restart != "no" && !exited) apps.push_back(a.name);
  }
  if (apps.empty()) return out;
  auto leader = pod_leader(nspawn);
  if (!leader) return out;
  std::vector<std::string> args = {"show", "--property=NRestarts", "--value"};
  for (const auto& a : apps) args.push_back(a + ".service");
  try {
    // One value per unit, in order; systemctl puts an empty line between
    // units.
    std::istringstream in(pod_systemctl(*leader, args));
    std::vector<std::string> values;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) values.push_back(line);
    if (values.size() == apps.size())
      for (size_t i = 0; i < apps.size(); ++i) out[apps[i]] = std::stoull(values[i]);
  } catch (const std::exception&) {
    // The pod is starting or stopping: no figure rather than a wrong one.
  }
  return out;
}

}  // namespace

PodEntry find_pod(const stdfs::path& state_dir, const std::string& ref) {
  if (ref.empty()) throw Error("no pod given");
  std::vector<PodEntry> all = list_pods(state_dir);
  for (const auto& e : all)
    if (e.uuid == ref) return e;
  // A name is reused once its pod no longer runs (crt@NAME.service starts
  // a new pod of that name each time): it names the pod that holds it now,
  // else the latest that had it.
  const PodEntry* named = nullptr;
  std::string named_created;
  bool named_active = false;
  for (const auto& e : all) {
    auto m = read_manifest(e.path);
    if (!m || m->name.empty() || m->name != ref) continue;
    PodStatus st = e.status();
    bool active = st == PodStatus::kPreparing || st == PodStatus::kPrepared || st == PodStatus::kRunning;
    if (named == nullptr || (active && !named_active) || (active == named_active && m->created > named_created)) {
      named = &e;
      named_created = m->created;
      named_active = active;
    }
  }
  if (named != nullptr && named_active) return *named;
  std::vector<PodEntry> matches;
  for (const auto& e : all)
    if (e.uuid.rfind(ref, 0) == 0) matches.push_back(e);
  // A name only pods that have ended had neither shadows a pod's unique
  // UUID prefix nor yields to it: crt rm must not guess. (Names of hex
  // digits alone are refused, but older pods may have one.)
  if (named != nullptr && matches.size() == 1 && matches.front().uuid != named->uuid)
    throw Error("pod " + quote(ref) + " is ambiguous: the name of pod " + named->uuid + " (" +
                status_name(named->status()) + ") and a UUID prefix of pod " + matches.front().uuid +
                "; give more of the UUID");
  // A prefix of several pods' UUIDs names none of them: the name stands.
  if (named != nullptr) return *named;
  if (matches.empty()) throw NoSuchPod(ref);
  if (matches.size() > 1) {
    std::string which;
    for (const auto& m : matches) which += (which.empty() ? "" : ", ") + m.uuid;
    throw Error("pod " + quote(ref) + " is ambiguous: " + which);
  }
  return matches.front();
}

std::vector<pod::AppExit> read_app_exits(const stdfs::path& pod_path) {
  std::vector<pod::AppExit> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(pod_path / "status", ec)) {
    // Not records: a record being written, an app's spare, .stopped-by.
    if (de.path().filename().string().front() == '.') continue;
    try {
      out.push_back(json_text::parse(fs::read_file(de.path())).get<pod::AppExit>());
    } catch (const std::exception&) {
      // Cut short (by a crash of the host, say): it says nothing.
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

bool pod_ready(const PodEntry& e) {
  std::error_code ec;
  return e.status() == PodStatus::kRunning && stdfs::exists(e.path / "ready", ec);
}

bool is_pods_nspawn(pid_t pid, const std::string& uuid) {
  std::string cmdline;
  try {
    cmdline = fs::read_file("/proc/" + std::to_string(pid) + "/cmdline");
  } catch (const Error&) {
    return false;
  }
  return cmdline.find("systemd-nspawn") != std::string::npos && cmdline.find("--uuid=" + uuid) != std::string::npos;
}

std::optional<pid_t> running_nspawn(const PodEntry& e) {
  if (e.status() != PodStatus::kRunning) return std::nullopt;
  std::string s;
  try {
    s = fs::read_file(e.path / "pid");
  } catch (const Error&) {
    return std::nullopt;
  }
  pid_t pid = 0;
  // Its nspawn's, not a process that has its PID now.
  if (std::from_chars(s.data(), s.data() + s.size(), pid).ec != std::errc() || pid <= 0 || !is_pods_nspawn(pid, e.uuid))
    return std::nullopt;
  return pid;
}

bool pod_was_ready(const PodEntry& e) {
  PodStatus st = e.status();
  std::error_code ec;
  return (st == PodStatus::kExited || st == PodStatus::kExitedGarbage) && stdfs::exists(e.path / "ready", ec);
}

uint64_t failed_starts(const stdfs::path& pod_path) {
  std::string text;
  try {
    text = fs::read_file(pod_path / "start-failed", 32);
  } catch (const Error&) {
    return 0;  // none yet
  }
  uint64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

PodInfo pod_info(const PodEntry& e) {
  PodInfo info;
  info.entry = e;
  info.manifest = read_manifest(e.path, info.manifest_error);
  info.started = mtime_rfc3339((e.path / "pid").string());
  if (e.status() == PodStatus::kRunning) {
    info.pid = running_nspawn(e);
    info.ready = pod_ready(e);
  } else {
    info.ready = pod_was_ready(e);
  }
  info.exits = read_app_exits(e.path);
  if (info.pid && info.manifest) info.restarts = live_restarts(*info.pid, *info.manifest, info.exits);
  try {
    if (auto net = net::read_state(e.path)) {
      info.networks = net::summarize(*net);
      info.ports = net::published_ports(*net);
    }
  } catch (const Error&) {
    // Being written when the pod was killed: it shows nothing.
  }
  std::error_code ec;
  if (stdfs::exists(e.path / PodDir::kOomKillsFile, ec)) {
    try {
      info.oom_kills =
          json_text::parse(fs::read_file(e.path / PodDir::kOomKillsFile)).get<std::map<std::string, uint64_t>>();
    } catch (const std::exception&) {
      // Not crt's record: it shows nothing.
    }
  }
  return info;
}

bool pins_images(PodStatus s) {
  switch (s) {
    case PodStatus::kPreparing:
    case PodStatus::kPrepared:
    case PodStatus::kRunning:
    case PodStatus::kExited:
    case PodStatus::kExitedGarbage: return true;
    case PodStatus::kAbortedPrepare:
    case PodStatus::kGarbage:
    case PodStatus::kDeleting: return false;
  }
  return false;
}

std::string UnreadablePod::message() const {
  std::string what_to_do;
  switch (pod.status()) {
    case PodStatus::kPreparing:
      // crt rm refuses it while the crt making it holds its lock; once that
      // command ends, the pod is prepared (or running) or no longer pins.
      what_to_do = "another crt is still preparing the pod: wait for that command to end, or stop it";
      break;
    case PodStatus::kRunning:
      what_to_do = "repair that file, or stop the pod and remove it with 'crt rm " + pod.uuid + "'";
      break;
    default:
      what_to_do = "repair that file or remove the pod with 'crt rm " + pod.uuid + "'";
  }
  return "cannot tell which images pod " + pod.uuid + " (" + status_name(pod.status()) + ") uses: " + error + "; " +
         what_to_do;
}

namespace {

/// What a pod that pins its images uses: its manifest; none while it is
/// being prepared and has yet to write it (it holds the store's lock until
/// then), or when it was removed since `state_dir` was listed; or why it
/// cannot be read. One moved meanwhile (prepared to running, running to
/// exited) is read where it went.
struct PodUse {
  std::optional<pod::PodManifest> manifest;
  std::optional<UnreadablePod> unreadable;
};

PodUse pod_use(const stdfs::path& state_dir, PodEntry p) {
  for (int moves = 0;; ++moves) {
    stdfs::path file = p.path / "pod.json";
    try {
      return {pod::parse_manifest(fs::read_file(file)), std::nullopt};
    } catch (const SystemError& e) {
      if (e.code() == ENOENT && p.dir_state == PodState::kPrepare) return {};
      std::error_code ec;
      if (e.code() == ENOENT && !stdfs::exists(p.path, ec) && !ec && moves < 3) {
        auto pods = list_pods(state_dir);
        auto now = std::find_if(pods.begin(), pods.end(), [&](const PodEntry& q) { return q.uuid == p.uuid; });
        if (now == pods.end() || !pins_images(now->status())) return {};
        p = *now;
        continue;
      }
      return {std::nullopt, UnreadablePod{p, e.what()}};  // it names the file
    } catch (const std::exception& e) {
      return {std::nullopt, UnreadablePod{p, quote(file.string()) + ": " + e.what()}};
    }
  }
}

}  // namespace

std::vector<PodEntry> pods_using_image(const stdfs::path& state_dir, const std::string& id) {
  std::vector<PodEntry> out;
  for (const auto& p : list_pods(state_dir)) {
    if (!pins_images(p.status())) continue;
    PodUse use = pod_use(state_dir, p);
    // Whoever removes an image must not guess that such a pod uses none.
    if (use.unreadable) throw UnreadablePodError(use.unreadable->message());
    if (!use.manifest) continue;
    const pod::PodManifest& m = *use.manifest;
    bool uses =
        m.stage1.id == id || std::any_of(m.apps.begin(), m.apps.end(), [&](const auto& a) { return a.image.id == id; });
    if (uses) out.push_back(p);
  }
  return out;
}

PodPins layers_in_use(const stdfs::path& state_dir) {
  PodPins out;
  for (const auto& p : list_pods(state_dir)) {
    if (!pins_images(p.status())) continue;
    PodUse use = pod_use(state_dir, p);
    if (use.unreadable) out.unreadable.push_back(std::move(*use.unreadable));
    if (!use.manifest) continue;
    out.layers.insert(use.manifest->stage1.layers.begin(), use.manifest->stage1.layers.end());
    for (const auto& a : use.manifest->apps) out.layers.insert(a.image.layers.begin(), a.image.layers.end());
  }
  return out;
}

store::PinnedLayers pinned_layers(const stdfs::path& state_dir) {
  return [state_dir] {
    PodPins pins = layers_in_use(state_dir);
    return store::Pins{std::move(pins.layers), !pins.unreadable.empty()};
  };
}

}  // namespace crt::runtime
