#include "pod/app_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "common/subprocess.hpp"
#include "mount/app_plan.hpp"
#include "pod/exit_status.hpp"
#include "pod/resources.hpp"
#include "pod/rootfs_lookup.hpp"
#include "pod/volumes.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/seccomp.hpp"
#include "store/digest.hpp"

extern char** environ;

namespace crt::pod {

namespace {

void set_env(EnvList& env, const std::string& key, const std::string& value) {
  auto it = std::find_if(env.begin(), env.end(), [&](const auto& kv) { return kv.first == key; });
  if (it != env.end())
    it->second = value;
  else
    env.emplace_back(key, value);
}

/// Variables by which a service manager describes crt run's own process
/// (systemd.exec(5), sd_listen_fds(3), sd_notify(3)): they would be wrong,
/// or misleading, in an app.
bool is_service_manager_variable(std::string_view kv) {
  static constexpr std::string_view kNames[] = {"NOTIFY_SOCKET",
                                                "INVOCATION_ID",
                                                "JOURNAL_STREAM",
                                                "LISTEN_FDS",
                                                "LISTEN_PID",
                                                "LISTEN_FDNAMES",
                                                "WATCHDOG_USEC",
                                                "WATCHDOG_PID",
                                                "MAINPID",
                                                "MANAGERPID",
                                                "SYSTEMD_EXEC_PID",
                                                "PIDFILE",
                                                "FDSTORE",
                                                "LOG_NAMESPACE",
                                                "RUNTIME_DIRECTORY",
                                                "STATE_DIRECTORY",
                                                "CACHE_DIRECTORY",
                                                "LOGS_DIRECTORY",
                                                "CONFIGURATION_DIRECTORY",
                                                "CREDENTIALS_DIRECTORY",
                                                "MEMORY_PRESSURE_WATCH",
                                                "MEMORY_PRESSURE_WRITE",
                                                "MONITOR_SERVICE_RESULT",
                                                "MONITOR_EXIT_CODE",
                                                "MONITOR_EXIT_STATUS",
                                                "MONITOR_INVOCATION_ID",
                                                "MONITOR_UNIT",
                                                "TRIGGER_UNIT",
                                                "TRIGGER_PATH",
                                                "TRIGGER_TIMER_REALTIME_USEC",
                                                "TRIGGER_TIMER_MONOTONIC_USEC"};
  std::string_view name = kv.substr(0, kv.find('='));
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

void apply_assignment(EnvList& env, const std::string& kv, const char* source) {
  check_assignment(kv, source);
  size_t eq = kv.find('=');
  set_env(env, kv.substr(0, eq), kv.substr(eq + 1));
}

/// An entry of image `image`'s Env. Docker takes any name without '=' (a
/// dot in "my.var", say), but systemd would start the app without it: such
/// an image is refused, naming the variable and the image, not an
/// assignment the user never wrote. A name alone ("FOO") unsets what came
/// before it, as docker and containerd take it (runc refuses it), rather
/// than refuse every run of the image.
void apply_image_assignment(EnvList& env, const std::string& kv, const std::string& image) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos && !kv.empty()) {
    std::erase_if(env, [&](const auto& var) { return var.first == kv; });
    return;
  }
  if (eq != std::string::npos && eq > 0)
    if (std::string why = store::env_name_problem(std::string_view(kv.data(), eq)); !why.empty())
      throw Error("image " + quote(image) + " sets the environment variable " + quote(kv.substr(0, eq)) +
                  " (its Env), which systemd cannot give an app (" + why +
                  "; it would start the app without it): give the variable such a name in the image");
  apply_assignment(env, kv, "image environment variable");
}

/// A user's setting (--set-env, --set-env-file, --environment): not of
/// CRT_APP_NAME, which crt sets to the app's name (it would be replaced).
void apply_user_assignment(EnvList& env, const std::string& kv, const std::string& source) {
  if (kv.rfind("CRT_APP_NAME=", 0) == 0)
    throw Error(source + " " + quote(kv) + ": CRT_APP_NAME is crt's, the app's name (--name sets it)");
  apply_assignment(env, kv, source.c_str());
}

/// Splits an OCI User "user[:group]".
std::pair<std::string, std::string> split_user(const std::string& spec) {
  size_t colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

constexpr size_t kMaxEnvFile = 1 << 20;

std::string read_env_file(const std::string& path) {
  return with_context("--set-env-file", [&] {
    std::string text = fs::read_file(path, kMaxEnvFile + 1);
    if (text.size() > kMaxEnvFile)
      throw Error(quote(path) + " is larger than 1 MiB, more than an environment can hold");
    return text;
  });
}

/// Sets the KEY=VALUE lines of `text`, the --set-env-file `path`, in `env`;
/// blank lines and '#' comments skipped, taken literally otherwise (as
/// Docker takes them). A bad line is named by its number.
void apply_env_file(EnvList& env, const std::string& path, const std::string& text) {
  std::istringstream in(text);
  size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string entry = trim_start(line, " \t");
    if (entry.empty() || entry[0] == '#') continue;
    apply_user_assignment(env, entry, "variable on line " + std::to_string(number) + " of " + quote(path));
  }
}

int64_t parse_integer(const std::string& s, int64_t min, int64_t max, const char* what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
    throw Error(std::string(what) + " must be a number from " + std::to_string(min) + " to " + std::to_string(max) +
                ", not " + quote(s));
  return v;
}

}  // namespace

std::vector<uint32_t> parse_supplementary_gids(const std::string& s) {
  std::vector<uint32_t> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    auto id = parse_id(item);
    if (!id) throw Error("--supplementary-gids takes numbers separated by commas, not " + quote(s));
    out.push_back(*id);
    start = end + 1;
  }
  return out;
}

int parse_oom_score_adj(const std::string& s) {
  return static_cast<int>(parse_integer(s, -1000, 1000, "--oom-score-adj"));
}

uint64_t parse_cpu_shares(const std::string& s) {
  return static_cast<uint64_t>(parse_integer(s, 2, 262144, "--cpu-shares"));
}

uint64_t parse_pids_limit(const std::string& s) {
  return static_cast<uint64_t>(parse_integer(s, 1, 4194304, "--pids-limit"));
}

bool is_image_id(const std::string& ref) {
  std::string_view id = ref;
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  // As the store looks IDs up: 4 hex digits or more (a name made of them is
  // found by its name first, and named after it all the same).
  return id.size() >= 4 && id.size() <= 64 && store::is_lower_hex(id);
}

std::string default_app_name(const std::string& image_ref) {
  // An image given by its ID (a nameless one): the ID's first 12 digits.
  std::string base = image_ref.rfind("sha256:", 0) == 0 ? image_ref.substr(7, 12)
                     : is_image_id(image_ref)           ? image_ref.substr(0, 12)
                                                        : store::base_name(image_ref);
  std::string out;
  for (char c : base) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) ? l : '-';
  }
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) out = "app";
  return out;
}

std::vector<std::string> app_command(const AppFlags& flags, const std::vector<std::string>& args, bool args_given,
                                     const store::RunConfig& image) {
  std::vector<std::string> argv;
  if (flags.exec) {
    argv.push_back(*flags.exec);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  argv = image.entrypoint;
  const auto& tail = args_given ? args : image.cmd;
  argv.insert(argv.end(), tail.begin(), tail.end());
  return argv;
}

/// Calls f(path, text) for each --set-env-file in order.
template <typename F>
void for_each_env_file(const PodFlags& pod, F f) {
  bool read = pod.set_env_file_texts.size() == pod.set_env_files.size();
  for (size_t i = 0; i < pod.set_env_files.size(); ++i)
    f(pod.set_env_files[i], read ? pod.set_env_file_texts[i] : read_env_file(pod.set_env_files[i]));
}

void read_env_files(PodFlags& pod) {
  pod.set_env_file_texts.clear();
  for (const auto& path : pod.set_env_files) pod.set_env_file_texts.push_back(read_env_file(path));
}

void validate_pod_env(const PodFlags& pod) {
  EnvList env;
  for_each_env_file(pod, [&](const std::string& path, const std::string& text) { apply_env_file(env, path, text); });
  for (const auto& kv : pod.set_env) apply_user_assignment(env, kv, "--set-env");
}

std::pair<std::string, std::string> app_user(const std::optional<std::string>& user,
                                             const std::optional<std::string>& group, const std::string& image_user) {
  auto [image_only_user, image_group] = split_user(image_user);
  std::string u = user ? *user : (image_only_user.empty() ? "0" : image_only_user);
  std::string g = group ? *group : (user ? "" : image_group);
  // An image's User of ":" would be root, quietly.
  if (!user && !image_user.empty()) check_image_user(image_user, "the image's User");
  if (user && user->find(':') != std::string::npos) {  // USER:GROUP, as an image's User
    if (group) throw Error("--user " + quote(*user) + " names a group, and so does --group: give it once");
    check_image_user(*user, "--user");
    std::tie(u, g) = split_user(*user);
  }
  if (u.empty()) throw Error("--user is empty");
  return {u, g};
}

void check_image_user(const std::string& user, const std::string& source) {
  auto [u, g] = split_user(user);
  std::string shown = source + " " + quote(user);
  bool colon = user.find(':') != std::string::npos;
  if (u.empty()) throw Error(shown + (colon ? ": the user before ':' is empty" : ": the user is empty"));
  if (colon && g.empty()) throw Error(shown + ": the group after ':' is empty");
  if (g.find(':') != std::string::npos)
    throw Error(shown + ": expected USER, UID, USER:GROUP or UID:GID, with one ':' at most");
}

void check_assignment(const std::string& kv, const std::string& source) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) throw Error("invalid " + source + " " + quote(kv) + ": expected NAME=VALUE");
  if (std::string why = store::env_name_problem(std::string_view(kv.data(), eq)); !why.empty())
    throw Error("invalid " + source + " " + quote(kv) + ": " + why);
}

void check_mount_targets(const std::string& app, const std::vector<VolumeMount>& mounts) {
  for (size_t i = 0; i < mounts.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (mounts[k].target == mounts[i].target)
        throw Error("app " + quote(app) + " mounts two volumes on " + quote(mounts[i].target));
}

namespace {

/// The app's working directory: --working-dir, else the image's, else "/".
std::string app_working_dir(const std::optional<std::string>& flag, const std::string& image_dir) {
  std::string dir = flag ? *flag : image_dir;
  if (dir.empty()) dir = "/";
  if (dir.front() != '/') throw Error("working directory " + quote(dir) + " must be an absolute path");
  // Refused here, before anything is prepared: no unit can hold one.
  if (std::any_of(dir.begin(), dir.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    throw Error("working directory " + quote(dir) + " holds a control character (a unit cannot name it)");
  // "/srv/./app/", "/srv/../app": the directory they name, as docker takes
  // them ('..' cannot climb above the app's root).
  return fs::normal_path(dir);
}

/// Sets what the app's flags alone decide (limits, filters, mounts …),
/// parsing and so checking them.
void apply_app_flags(AppManifest& app, const AppFlags& f) {
  if (f.memory) app.memory_max = parse_memory(*f.memory);
  if (f.cpu) app.cpu_millis = parse_cpu_millis(*f.cpu);
  app.seccomp = f.seccomp ? sandbox::parse_syscall_filter(*f.seccomp) : sandbox::default_syscall_filter();
  app.capabilities = sandbox::resolve_capabilities(f.caps_retain, f.caps_remove);
  app.allowed_namespaces = f.allow_namespaces ? sandbox::parse_allowed_namespaces(*f.allow_namespaces)
                                              : sandbox::default_allowed_namespaces(app.capabilities);
  // Mount namespaces allowed are for mounting in (bubblewrap, say): the
  // default filter then has the mount calls too. Outside a user namespace
  // of the app's own they still fail, for want of CAP_SYS_ADMIN there,
  // unless the app keeps CAP_SYS_ADMIN, which allows every namespace, and
  // so mounts, as Docker's filter does for it.
  if (!f.seccomp &&
      (!app.allowed_namespaces || std::find(app.allowed_namespaces->begin(), app.allowed_namespaces->end(), "mnt") !=
                                      app.allowed_namespaces->end()))
    app.seccomp.entries.emplace_back("@mount");
  if (f.restart) app.restart = *f.restart;
  for (const auto& m : f.mounts) app.mounts.push_back(parse_mount(m));
  app.readonly_rootfs = f.readonly_rootfs.value_or(false);
  app.notify = f.notify.value_or(false);
  if (f.supplementary_gids) app.supplementary_gids = parse_supplementary_gids(*f.supplementary_gids);
  if (f.oom_score_adj) app.oom_score_adj = parse_oom_score_adj(*f.oom_score_adj);
  if (f.cpu_shares) app.cpu_shares = parse_cpu_shares(*f.cpu_shares);
  if (f.pids_limit) app.pids_limit = parse_pids_limit(*f.pids_limit);
}

}  // namespace

void check_app_flags(const AppRequest& req) {
  const AppFlags& f = req.flags;
  std::string name = f.name ? *f.name : default_app_name(req.image);
  validate_app_name(name);  // its own message names it
  with_context("app " + quote(name), [&] {
    EnvList env;
    for (const auto& kv : f.environment) apply_user_assignment(env, kv, "--environment");
    (void)app_user(f.user, f.group, "");
    (void)app_working_dir(f.working_dir, "/");
    AppManifest app;
    apply_app_flags(app, f);
  });
}

AppManifest make_app_manifest(const AppRequest& req, const PodFlags& pod, const store::Image& image) {
  const AppFlags& f = req.flags;
  AppManifest app;
  // An image given by its ID is named after the image's name.
  app.name = f.name ? *f.name : default_app_name(is_image_id(req.image) ? image.name_for(req.image) : req.image);
  validate_app_name(app.name);  // its own message names it
  return with_context("app " + quote(app.name), [&] {
    app.image = {image.name_for(req.image), image.id, image.layers};

    app.argv = app_command(f, req.args, req.args_given, image.config);
    if (app.argv.empty() && req.args_given && !image.config.cmd.empty())
      throw Error("'--' with nothing after it leaves image " + quote(req.image) +
                  " without its command: give one after '--', or leave '--' out");
    if (app.argv.empty())
      throw Error("image " + quote(req.image) + " has no command: give one with --exec or after '--'");
    if (app.argv[0].empty()) throw Error("the command to run is empty");

    set_env(app.env, "PATH", kSystemPath);
    if (pod.inherit_env) {
      for (char** e = environ; *e != nullptr; ++e) {
        // Not UTF-8: a pod's manifest (JSON) cannot hold it; left out as
        // what is no plain NAME=VALUE is.
        if (is_service_manager_variable(*e) || !json_text::is_utf8(*e)) continue;
        try {
          apply_assignment(app.env, *e, "inherited environment variable");
        } catch (const Error&) {
          // Not a plain NAME=VALUE (shell functions…): not passed on.
        }
      }
    }
    for (const auto& kv : image.config.env) apply_image_assignment(app.env, kv, app.image.name);
    for_each_env_file(pod,
                      [&](const std::string& path, const std::string& text) { apply_env_file(app.env, path, text); });
    for (const auto& kv : pod.set_env) apply_user_assignment(app.env, kv, "--set-env");
    for (const auto& kv : f.environment) apply_user_assignment(app.env, kv, "--environment");
    set_env(app.env, "CRT_APP_NAME", app.name);

    std::tie(app.user, app.group) = app_user(f.user, f.group, image.config.user);

    app.working_dir = app_working_dir(f.working_dir, image.config.working_dir);
    apply_app_flags(app, f);
    app.exposed_ports = image.config.exposed_ports;
    app.image_volumes = image.config.volumes;
    if (!image.config.stop_signal.empty())
      app.stop_signal =
          with_context("the image's StopSignal", [&] { return normalize_stop_signal(image.config.stop_signal); });
    return app;
  });
}

void plan_volumes(PodManifest& m, const std::vector<std::string>& volume_specs, const MessageSink& messages) {
  for (const auto& spec : volume_specs) {
    Volume v = parse_volume(spec);
    for (const auto& other : m.volumes)
      if (other.name == v.name) throw Error("two volumes are named " + quote(v.name));
    m.volumes.push_back(std::move(v));
  }
  int implicit = 0;
  for (auto& app : m.apps) {
    // An image's volume the user does not mount gets an empty volume of its
    // own, filled with what the image has at that path (as Docker does).
    for (const auto& image_path : app.image_volumes) {
      auto left_out = [&](const std::string& why) {
        tell(messages, "warning: app " + quote(app.name) + ": the volume " + quote(image_path) + " of image " +
                           quote(app.image.name) + " is left out (" + why +
                           "): its files stay in the app's rootfs, kept with the pod");
      };
      if (image_path.empty() || image_path.front() != '/') {
        left_out("not an absolute path");
        continue;
      }
      std::string path = fs::normal_path(image_path);
      bool mounted = std::any_of(app.mounts.begin(), app.mounts.end(), [&](const VolumeMount& mt) { return mt.target == path; });
      if (mounted) continue;  // the user's mount takes its place
      // Nor one the user could not ask for: on the root, where the pod
      // mounts its own (/etc/hosts), or with control characters.
      if (std::any_of(path.begin(), path.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        left_out("a mount point cannot hold a control character");
        continue;
      }
      if (std::string why = mount::volume_target_problem(path); !why.empty()) {
        left_out(why);
        continue;
      }
      // As docker cleans it ("/../../etc" is "/etc": '..' cannot climb
      // above the root), but said: the image names another path than it
      // seems to.
      if (path != image_path && (image_path + "/").find("/../") != std::string::npos)
        tell(messages, "warning: app " + quote(app.name) + ": the volume " + quote(image_path) + " of image " +
                           quote(app.image.name) + " is mounted on " + quote(path) + ", the path it names");
      Volume v;
      v.name = ("image-" + std::to_string(++implicit) + "-" + app.name).substr(0, 63);
      while (v.name.back() == '-') v.name.pop_back();
      v.kind = "empty";
      v.copy_from = path;
      v.copy_app = app.name;
      m.volumes.push_back(v);
      app.mounts.push_back({v.name, path});
    }
    for (const auto& mt : app.mounts) {
      bool defined = std::any_of(m.volumes.begin(), m.volumes.end(), [&](const Volume& v) { return v.name == mt.volume; });
      if (!defined)
        throw Error("app " + quote(app.name) + " mounts volume " + quote(mt.volume) + ", which no --volume defines");
    }
    check_mount_targets(app.name, app.mounts);
  }
}

std::string normalize_stop_signal(const std::string& s) {
  std::string name = s;
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.empty()) throw Error("unknown signal ''");
  if (std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    int n = name.size() > 2 ? 0 : std::stoi(name);
    const char* abbrev = n > 0 && n < 32 ? sigabbrev_np(n) : nullptr;
    if (abbrev == nullptr) throw Error("unknown signal " + quote(s));
    return std::string("SIG") + abbrev;
  }
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  for (int n = 1; n < 32; ++n)
    if (const char* abbrev = sigabbrev_np(n); abbrev != nullptr && name == abbrev) return "SIG" + name;
  for (const char* rt : {"RTMIN", "RTMAX"}) {
    std::string_view rest = std::string_view(name).substr(name.rfind(rt, 0) == 0 ? 5 : 0);
    if (rest.size() == name.size()) continue;
    if (rest.empty()) return "SIG" + name;
    if ((rest[0] == '+' || rest[0] == '-') && rest.size() > 1 &&
        std::all_of(rest.begin() + 1, rest.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return "SIG" + name;
  }
  throw Error("unknown signal " + quote(s));
}

void validate_apps(const std::vector<AppManifest>& apps) {
  std::set<std::string> seen;
  for (const auto& a : apps)
    if (!seen.insert(a.name).second)
      throw Error("two apps are named " + quote(a.name) + ": give one another name with --name");
}

}  // namespace crt::pod
