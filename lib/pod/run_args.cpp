#include "pod/run_args.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iterator>
#include <string>
#include <string_view>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/json_text.hpp"
#include "pod/net_flags.hpp"

namespace crt::pod {

namespace {

/// A flag (`--x`, `--x=no`) whose value stays empty unless it is given:
/// CLI11's own flag of std::optional<bool> sets false when not given, so one
/// given before the first image would be undone by each app's own parse
/// (AppFlags::merge()). The last one given wins.
void add_optional_flag(CLI::App& app, const std::string& name, std::optional<bool>& flag, const std::string& help) {
  app.add_flag_function(
         name, [&flag](int64_t given) { flag = given > 0; }, help)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            return is_yes_no_word(value) ? "" : std::string("must be ") + kYesNoWords + ", not " + quote(value);
          },
          ""));
}

void add_app_options(CLI::App& app, AppFlags& f) {
  app.add_option("--name", f.name, "Name of the app (default: the image's base name)");
  app.add_option("--exec", f.exec, "Run this binary instead of the image's entrypoint and command");
  app.add_option("--environment", f.environment, "Set an environment variable K=V in the app")
      ->allow_extra_args(false);
  app.add_option("--user", f.user,
                 "User to run as: a number or a name from the image's /etc/passwd; USER:GROUP also sets --group. "
                 "Without a group, the user (this one, the image's, or root) also gets the groups the image's "
                 "/etc/group lists it in");
  app.add_option("--group", f.group, "Group to run as: a number or a name from the image's /etc/group");
  app.add_option("--working-dir", f.working_dir, "Working directory of the app");
  app.add_option("--memory", f.memory,
                 "Memory limit: bytes, or with K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (of 1024), e.g. 512Mi or "
                 "1.5G (MemoryMax=)");
  app.add_option("--cpu", f.cpu, "CPU limit: millicores (200m) or cores (1.5) (CPUQuota=)");
  app.add_option("--seccomp", f.seccomp,
                 "System call filter: mode=retain|remove[,errno=ERRNO],SYSCALL|@GROUP,... (replaces the default)");
  app.add_option("--caps-retain", f.caps_retain, "Capabilities to keep, comma-separated (replaces the default)");
  app.add_option("--caps-remove", f.caps_remove, "Capabilities to drop from the default set, comma-separated");
  app.add_option("--allow-namespaces", f.allow_namespaces,
                 "Namespaces the app may make: all, none, or some of cgroup, ipc, mnt, net, pid, user, uts, "
                 "comma-separated (RestrictNamespaces=; default: none, all with CAP_SYS_ADMIN); with mnt (or all) "
                 "the default system call filter allows the mount calls too");
  app.add_option("--restart", f.restart,
                 "Restart the app: no, on-failure or always (systemd's Restart=, 200 ms apart; after 5 starts in 10 s "
                 "it is given up)")
      ->check(CLI::IsMember({"no", "on-failure", "always"}));
  app.add_option("--mount", f.mounts, "Mount a volume: volume=NAME,target=PATH (a comma in PATH: '\\,')")
      ->allow_extra_args(false);
  add_optional_flag(app, "--readonly-rootfs", f.readonly_rootfs,
                    "Make the app's rootfs read-only (volumes stay writable)");
  add_optional_flag(
      app, "--notify", f.notify,
      "The app tells systemd when it is ready (sd_notify READY=1, Type=notify); the pod is ready only then");
  app.add_option("--supplementary-gids", f.supplementary_gids, "Additional group ids, comma-separated");
  app.add_option("--oom-score-adj", f.oom_score_adj, "OOM score adjustment, -1000 to 1000 (OOMScoreAdjust=)");
  app.add_option("--cpu-shares", f.cpu_shares, "Relative CPU weight, 2 to 262144 (CPUShares=)");
  app.add_option("--pids-limit", f.pids_limit, "Most tasks the app may have (TasksMax=)");
}

void add_pod_options(CLI::App& app, PodFlags& p, RunVerb verb) {
  // crt prepare takes the options of starting a pod only to say where they
  // belong; its help leaves them out.
  const std::string starting = verb == RunVerb::kPrepare ? "" : "Options";
  if (verb == RunVerb::kPrepare)
    app.add_flag("-q,--quiet", p.quiet, "Print only the pod's UUID: no progress, no notices");
  app.add_option("--pod-name", p.name,
                 "Name of the pod, usable wherever a pod UUID is (and its machine name); not only hex digits and '-'");
  app.add_option("--exit-policy", p.exit_policy,
                 "When the pod ends: on-any-failure (an app failed, or all exited), on-any-exit, on-all-exit")
      ->check(CLI::IsMember({"on-any-failure", "on-any-exit", "on-all-exit"}));
  app.add_option("--net", p.net,
                 "Networks: default (the pod's own, private; the default), NAME[:ARGS],... from net.d, all, "
                 "host (the host's) or none (loopback only)");
  app.add_option("--port", p.ports,
                 "Forward a host port: [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp], or NAME:[HOSTIP:]HOSTPORT for a "
                 "port the image exposes (e.g. 80-tcp); an IPv6 HOSTIP goes in brackets ([2001:db8::1]:8080:80)")
      ->allow_extra_args(false);
  app.add_option("--dns", p.dns, "A nameserver for the apps' /etc/resolv.conf")->allow_extra_args(false);
  app.add_option("--dns-search", p.dns_search, "A search domain for /etc/resolv.conf")->allow_extra_args(false);
  app.add_option("--dns-opt", p.dns_opt, "An option for /etc/resolv.conf, e.g. ndots:2")->allow_extra_args(false);
  app.add_option("--hosts-entry", p.hosts_entries, "Add IP=HOST to the apps' /etc/hosts")->allow_extra_args(false);
  app.add_flag("--interactive", p.interactive, "Give the app crt's stdin, stdout and stderr, as a terminal when they are one (one app only)")
      ->group(starting);
  app.add_flag("--detach", p.detach,
               "Run the pod as the service crt-UUID.service of the host's systemd; print its UUID once it is ready")
      ->group(starting);
  app.add_flag("--rm", p.remove, kRemoveHelp)->group(starting);
  app.add_option("--hostname", p.hostname, "Host name of the pod (default: the machine name)");
  app.add_option("--uuid-file-save", p.uuid_file_save,
                 "Write the pod's UUID to this file (a regular file, replaced; nothing else is)");
  app.add_option("--set-env", p.set_env, "Set an environment variable K=V in every app")->allow_extra_args(false);
  app.add_option("--set-env-file", p.set_env_files,
                 "Set the variables of a file of K=V lines in every app (taken literally; # comments)")
      ->allow_extra_args(false);
  app.add_flag("--inherit-env", p.inherit_env,
               "Give every app crt's own environment (under the other settings; variables that are no NAME=VALUE "
               "in UTF-8, such as shell functions, are left out)");
  app.add_option("--volume", p.volumes,
                 "Define a volume: NAME,kind=host,source=PATH[,readOnly=true][,recursive=true] | "
                 "NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=true] | "
                 "NAME,kind=tmpfs[,size=64M][,mode=0755][,uid=N][,gid=N][,readOnly=true] (a comma in PATH: '\\,')")
      ->allow_extra_args(false);
  app.add_option("--stage1-path", p.stage1_path, "Use this stage1 image (tarball or directory)");
  app.add_flag("--debug", p.debug, "Show on stderr what crt, nspawn and the pod's systemd are doing")->group(starting);
  app.add_option("--stop-timeout", p.stop_timeout, kStopTimeoutHelp)->group(starting);
  if (verb == RunVerb::kRun) add_plugin_time_limit_option(app, p.plugin_time_limit);
  app.add_option("--pull-policy", p.pull_policy,
                 "When to pull an image from its registry: never, missing (the default) or always")
      ->check(CLI::IsMember({"never", "missing", "always"}));
  registry::add_registry_flags(app, p.registry);
}

}  // namespace

bool is_yes_no_word(std::string_view word) {
  std::string lower(word);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* w : {"yes", "no", "true", "false", "on", "off", "1", "0"})
    if (lower == w) return true;
  return false;
}

namespace {

std::string verb_name(RunVerb verb) { return verb == RunVerb::kPrepare ? "prepare" : "run"; }

/// Where a command-line error of `verb` sends the user.
std::string see_help(RunVerb verb) { return " (see 'crt " + verb_name(verb) + " --help')"; }

/// Parses `tokens` with `app`; returns what it did not consume.
std::vector<std::string> parse_with(CLI::App& app, const std::vector<std::string>& tokens, RunVerb verb) {
  // CLI11 would take the next word as the value of "--name=" (an unset
  // shell variable after the '='), and an empty word after "--name" as no
  // value ('--pod-name "$UNSET"').
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (t.size() > 3 && t.rfind("--", 0) == 0 && t.find('=') == t.size() - 1 &&
        app.get_option_no_throw(t.substr(0, t.size() - 1)) != nullptr)
      throw Error("option " + quote(t.substr(0, t.size() - 1)) + " needs a value" + see_help(verb));
    if (i + 1 < tokens.size() && tokens[i + 1].empty() && t.size() > 1 && t[0] == '-' &&
        t.find('=') == std::string::npos)
      if (const CLI::Option* o = app.get_option_no_throw(t); o != nullptr && o->get_expected_min() > 0)
        throw Error("option " + quote(t) + " needs a value" + see_help(verb));
  }
  std::vector<std::string> rev(tokens.rbegin(), tokens.rend());
  try {
    app.parse(rev);
  } catch (const CLI::ArgumentMismatch& e) {
    throw Error(argument_mismatch_text(e.what()) + see_help(verb));
  } catch (const CLI::ParseError& e) {
    throw Error(e.what());
  }
  return app.remaining();
}

}  // namespace

std::string global_option_hint(const std::string& word, const std::string& next, const std::string& command) {
  struct Global {
    const char* name;
    const char* value;  ///< what it takes, as its help names it; nullptr: a flag
  };
  static constexpr Global kGlobals[] = {
      {"--dir", "DIR"}, {"--config", "FILE"}, {"--local-config", "DIR"}, {"--debug", nullptr}, {"--version", nullptr}};
  size_t eq = word.find('=');
  std::string name = word.substr(0, eq);
  const Global* g =
      std::find_if(std::begin(kGlobals), std::end(kGlobals), [&](const Global& x) { return name == x.name; });
  if (g == std::end(kGlobals)) return "";
  std::string before = "crt " + name;
  if (g->value != nullptr) {
    std::string value = eq != std::string::npos ? word.substr(eq + 1) : next.rfind('-', 0) == 0 ? "" : next;
    // Shown as typed only where a shell would take it so.
    bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
             std::string_view("/._+,:@%=-~").find(c) != std::string_view::npos;
    });
    before += "=" + (plain ? value : std::string(g->value));
  }
  if (name == "--version") return name + " is an option of crt itself: " + before;
  return name + " is an option of crt itself: put it before the command (" + before + " " + command + " …)";
}

std::string argument_mismatch_text(const std::string& what) {
  std::string option = what.substr(0, what.find(':'));
  if (option.rfind('-', 0) != 0) return what;
  if (what.find("At Most") != std::string::npos) return "option " + quote(option) + " is given more than once";
  if (what.find("required") != std::string::npos) return "option " + quote(option) + " needs a value";
  return what;
}

namespace {

/// Whether `word` (--name, --name=value or -x) is a pod option of `verb`.
bool is_pod_option(const std::string& word, RunVerb verb) {
  CLI::App app;
  PodFlags flags;
  add_pod_options(app, flags, verb);
  return app.get_option_no_throw(word.substr(0, word.find('='))) != nullptr;
}

bool is_help(const std::string& t) { return t == "--help" || t == "-h"; }

/// When the pod and app options `seg` ended in "--memory IMAGE": what the
/// image was taken as (for "missing image name").
std::string took_the_image(const std::vector<std::string>& seg, RunVerb verb) {
  if (seg.size() < 2 || seg.back().rfind('-', 0) == 0) return "";
  const std::string& option = seg[seg.size() - 2];
  CLI::App app;
  PodFlags pod;
  AppFlags flags;
  add_pod_options(app, pod, verb);
  add_app_options(app, flags);
  const CLI::Option* o = option.find('=') == std::string::npos ? app.get_option_no_throw(option) : nullptr;
  if (o == nullptr || o->get_expected_min() == 0) return "";
  return ": " + option + " took " + quote(seg.back()) + " as its value";
}

std::vector<std::vector<std::string>> split_apps(const std::vector<std::string>& args) {
  std::vector<std::vector<std::string>> out(1);
  for (const auto& a : args) {
    if (a == "---")
      out.emplace_back();
    else
      out.back().push_back(a);
  }
  return out;
}

AppRequest parse_app_segment(std::vector<std::string> seg, PodFlags* pod, AppFlags* defaults, RunVerb verb) {
  AppRequest req;
  auto dashdash = std::find(seg.begin(), seg.end(), "--");
  if (dashdash != seg.end()) {
    req.args.assign(dashdash + 1, seg.end());
    req.args_given = true;
    seg.erase(dashdash, seg.end());
  }
  if (std::any_of(seg.begin(), seg.end(), is_help)) throw HelpRequested{};

  std::vector<std::string> rest = seg;
  if (pod != nullptr) {
    CLI::App pre;
    pre.prefix_command();
    pre.set_help_flag();
    add_pod_options(pre, *pod, verb);
    add_app_options(pre, *defaults);
    rest = parse_with(pre, seg, verb);
  }
  if (rest.empty()) {
    std::string where = req.args_given ? " before '--'" : pod == nullptr ? " after '---'" : "";
    throw Error("missing image name" + where + (pod != nullptr ? took_the_image(seg, verb) : "") + see_help(verb));
  }
  if (rest.front().rfind("-", 0) == 0) {
    bool pod_option = pod == nullptr && is_pod_option(rest.front(), verb);
    std::string hint = global_option_hint(rest.front(), rest.size() > 1 ? rest[1] : "", verb_name(verb));
    if (!pod_option && !hint.empty()) throw Error(hint);
    throw Error("unknown option " + quote(rest.front()) +
                (pod_option ? " (pod options go before the first image)" : see_help(verb)));
  }
  req.image = rest.front();
  rest.erase(rest.begin());

  CLI::App post;
  post.set_help_flag();
  add_app_options(post, req.flags);
  post.allow_extras();
  std::vector<std::string> left = parse_with(post, rest, verb);
  if (!left.empty()) {
    const std::string& word = left.front();
    if (word.rfind("-", 0) == 0) {
      bool pod_option = is_pod_option(word, verb);
      std::string hint = global_option_hint(word, left.size() > 1 ? left[1] : "", verb_name(verb));
      if (!pod_option && !hint.empty()) throw Error(hint);
      throw Error("unknown option " + quote(word) + " for image " + quote(req.image) +
                  (pod_option ? " (pod options go before the first image)" : see_help(verb)));
    }
    throw Error("unexpected argument " + quote(word) + " after image " + quote(req.image) +
                ": arguments for the app go after '--', another app after '---'");
  }
  return req;
}

}  // namespace

void AppFlags::merge(const AppFlags& over) {
  auto take = [](auto& mine, const auto& theirs) {
    if (theirs) mine = theirs;
  };
  take(name, over.name);
  take(exec, over.exec);
  environment.insert(environment.end(), over.environment.begin(), over.environment.end());
  take(user, over.user);
  take(group, over.group);
  take(working_dir, over.working_dir);
  take(memory, over.memory);
  take(cpu, over.cpu);
  take(seccomp, over.seccomp);
  take(caps_retain, over.caps_retain);
  take(caps_remove, over.caps_remove);
  take(allow_namespaces, over.allow_namespaces);
  take(restart, over.restart);
  mounts.insert(mounts.end(), over.mounts.begin(), over.mounts.end());
  take(readonly_rootfs, over.readonly_rootfs);
  take(notify, over.notify);
  take(supplementary_gids, over.supplementary_gids);
  take(oom_score_adj, over.oom_score_adj);
  take(cpu_shares, over.cpu_shares);
  take(pids_limit, over.pids_limit);
}

RunRequest parse_run_args(const std::vector<std::string>& args, RunVerb verb) {
  if (args.empty()) throw Error("missing image name" + see_help(verb));
  // The pod's manifest (JSON) holds every setting: one that is not UTF-8 is
  // named here, not found there. (An app's arguments after "--" are named
  // with their app, later.)
  bool app_args = false;
  for (const auto& a : args) {
    if (a == "---") app_args = false;
    if (app_args) continue;
    if (a == "--") app_args = true;
    if (!json_text::is_utf8(a)) throw Error("option or image " + quote(a) + " is not valid UTF-8");
  }
  RunRequest r;
  AppFlags defaults;
  auto segments = split_apps(args);
  for (size_t i = 0; i < segments.size(); ++i) {
    AppRequest app =
        parse_app_segment(segments[i], i == 0 ? &r.pod : nullptr, i == 0 ? &defaults : nullptr, verb);
    AppFlags merged = defaults;
    merged.merge(app.flags);
    app.flags = std::move(merged);
    r.apps.push_back(std::move(app));
  }
  if (r.pod.interactive && r.apps.size() != 1) throw Error("--interactive needs exactly one app");
  if (r.pod.interactive && r.pod.detach) throw Error("--interactive and --detach exclude each other");
  validate_net_flags(r.pod);
  parse_stop_timeout(r.pod.stop_timeout);
  parse_plugin_time_limit(r.pod.plugin_time_limit);  // before any pod is made of it
  return r;
}

std::chrono::milliseconds parse_stop_timeout(const std::optional<std::string>& given) {
  if (!given) return kDefaultStopTimeout;
  auto t = with_context("--stop-timeout", [&] { return parse_duration(*given); });
  if (t.count() <= 0) throw Error("--stop-timeout: must be longer than 0 (got " + quote(*given) + ")");
  return t;
}

void add_plugin_time_limit_option(CLI::App& cmd, std::optional<std::string>& given, OptionVisibility visibility) {
  CLI::Option* o = cmd.add_option("--plugin-time-limit", given, "How long each plugin and iptables run may take")
                       ->type_name("DURATION");
  if (visibility == OptionVisibility::kHidden) o->group("");
}

std::optional<std::chrono::milliseconds> parse_plugin_time_limit(const std::optional<std::string>& given) {
  if (!given) return std::nullopt;
  return with_context("--plugin-time-limit", [&] { return parse_duration(*given); });
}

std::string run_help(RunVerb verb) {
  bool run = verb == RunVerb::kRun;
  std::string name = run ? "crt run" : "crt prepare";
  PodFlags p;
  AppFlags a;
  CLI::App pod_app("Pod options (before the first image):", name);
  pod_app.set_help_flag();
  add_pod_options(pod_app, p, verb);
  CLI::App app_app("App options (after an image apply to it; before the first image, to every app):", name);
  app_app.set_help_flag();
  add_app_options(app_app, a);
  auto options_of = [](const CLI::App& app) {
    std::string help = app.help();
    size_t pos = help.find("Options:");
    return pos == std::string::npos ? help : help.substr(pos + 8);
  };
  std::string indent(name.size() + 9, ' ');
  std::string about =
      run ? "Runs a pod: each IMAGE becomes an app, a sandboxed service in the pod's own systemd.\n"
            "crt run exits with the app's exit status (several apps: that of the first app that\n"
            "failed, else 0), or 254 when crt itself fails. SIGINT, SIGTERM and SIGHUP stop the\n"
            "pod in order (a second one at once), and so does the end of whoever reads the apps'\n"
            "output (crt run … | head); a pod not stopped after --stop-timeout is killed.\n\n"
          : "Prepares a pod to run later with 'crt run-prepared': pulls its images, checks what a\n"
            "start needs and prints the pod's UUID. It takes the options of crt run but\n"
            "--interactive, --debug, --detach, --rm and --stop-timeout, which belong to crt run-prepared.\n\n";
  std::string examples = run ? "\nExample:\n  crt run --interactive busybox --memory=100M --cpu=200m\n"
                               "  crt run busybox -- /bin/echo hello --- busybox --name=second -- /bin/true\n"
                               "  crt run --port=8080:80 busybox -- httpd -f -p 80\n"
                             : "\nExample:\n  crt prepare --quiet busybox -- /bin/sleep 600\n"
                               "  crt run-prepared UUID\n";
  return "Usage: " + name + " [POD OPTIONS] [APP OPTIONS] IMAGE [APP OPTIONS] [-- ARGS…]\n" + indent +
         "[--- IMAGE [APP OPTIONS] [-- ARGS…]]…\n\n" + about + "Pod options:" + options_of(pod_app) +
         "\nApp options:" + options_of(app_app) + examples;
}

}  // namespace crt::pod
