#include "pod/app_config.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/error.hpp"
#include "pod/resources.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/seccomp.hpp"

namespace crt::pod {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void set_env(EnvList& env, const std::string& key, const std::string& value) {
  auto it = std::find_if(env.begin(), env.end(), [&](const auto& kv) { return kv.first == key; });
  if (it != env.end())
    it->second = value;
  else
    env.emplace_back(key, value);
}

void apply_assignment(EnvList& env, const std::string& kv, const char* source) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(std::string("invalid ") + source + " " + quote(kv) + ": expected NAME=VALUE");
  std::string key = kv.substr(0, eq);
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      throw Error(std::string("invalid ") + source + " " + quote(kv) + ": a variable name holds letters, digits and '_'");
  if (std::isdigit(static_cast<unsigned char>(key[0])))
    throw Error(std::string("invalid ") + source + " " + quote(kv) + ": a variable name cannot start with a digit");
  set_env(env, key, kv.substr(eq + 1));
}

/// Splits an OCI User "user[:group]".
std::pair<std::string, std::string> split_user(const std::string& spec) {
  size_t colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

}  // namespace

std::string default_app_name(const std::string& image_ref) {
  std::string base = store::base_name(image_ref);
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

AppManifest make_app_manifest(const AppRequest& req, const PodFlags& pod, const store::Image& image) {
  const AppFlags& f = req.flags;
  AppManifest app;
  app.name = f.name ? *f.name : default_app_name(req.image);
  return with_context("app " + quote(app.name), [&] {
    validate_app_name(app.name);
    app.image = {image.names.empty() ? req.image : image.names.front(), image.id, image.layers};

    app.argv = app_command(f, req.args, req.args_given, image.config);
    if (app.argv.empty())
      throw Error("image " + quote(req.image) + " has no command: give one with --exec or after '--'");
    if (app.argv[0].empty()) throw Error("the command to run is empty");

    set_env(app.env, "PATH", kDefaultPath);
    for (const auto& kv : image.config.env) apply_assignment(app.env, kv, "image environment variable");
    for (const auto& kv : pod.set_env) apply_assignment(app.env, kv, "--set-env");
    for (const auto& kv : f.environment) apply_assignment(app.env, kv, "--environment");
    set_env(app.env, "CRT_APP_NAME", app.name);

    auto [image_user, image_group] = split_user(image.config.user);
    app.user = f.user ? *f.user : (image_user.empty() ? "0" : image_user);
    app.group = f.group ? *f.group : (f.user ? "" : image_group);
    if (app.user.empty()) throw Error("--user is empty");

    app.working_dir = f.working_dir ? *f.working_dir : image.config.working_dir;
    if (app.working_dir.empty()) app.working_dir = "/";
    if (app.working_dir.front() != '/')
      throw Error("working directory " + quote(app.working_dir) + " must be an absolute path");

    if (f.memory) app.memory_max = parse_memory(*f.memory);
    if (f.cpu) app.cpu_millis = parse_cpu_millis(*f.cpu);
    app.seccomp = f.seccomp ? sandbox::parse_syscall_filter(*f.seccomp) : sandbox::default_syscall_filter();
    app.capabilities = sandbox::resolve_capabilities(f.caps_retain, f.caps_remove);
    return app;
  });
}

void validate_apps(const std::vector<AppManifest>& apps) {
  std::set<std::string> seen;
  for (const auto& a : apps)
    if (!seen.insert(a.name).second)
      throw Error("two apps are named " + quote(a.name) + ": give one another name with --name");
}

}  // namespace crt::pod
