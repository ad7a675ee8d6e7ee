#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pod/manifest.hpp"
#include "registry/flags.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace crt::pod {

/// Per-app options as given on the command line (unset = not given).
struct AppFlags {
  std::optional<std::string> name;
  std::optional<std::string> exec;
  std::vector<std::string> environment;  ///< "K=V"
  std::optional<std::string> user;
  std::optional<std::string> group;
  std::optional<std::string> working_dir;
  std::optional<std::string> memory;
  std::optional<std::string> cpu;
  std::optional<std::string> seccomp;
  std::optional<std::string> caps_retain;
  std::optional<std::string> caps_remove;
  std::optional<std::string> allow_namespaces;
  std::optional<std::string> restart;                ///< no, on-failure, always
  std::vector<std::string> mounts;                   ///< "volume=NAME,target=PATH"
  std::optional<bool> readonly_rootfs;
  std::optional<bool> notify;  ///< Type=notify: the app says READY=1 itself
  std::optional<std::string> supplementary_gids;     ///< "1,2,3"
  std::optional<std::string> oom_score_adj;
  std::optional<std::string> cpu_shares;
  std::optional<std::string> pids_limit;

  /// Applies `over` on top of these flags (scalars replace, lists append).
  void merge(const AppFlags& over);
};

/// One app of `crt run`: an image, its flags and its arguments.
struct AppRequest {
  std::string image;
  AppFlags flags;
  std::vector<std::string> args;
  bool args_given = false;  ///< "--" was present (even with no arguments)
};

/// Pod-wide options of `crt run`.
struct PodFlags {
  std::optional<std::string> name;  ///< --pod-name
  std::string exit_policy = "on-any-failure";
  std::string net = "default";
  std::vector<std::string> ports;  ///< --port as given
  std::vector<std::string> dns;
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_opt;
  std::vector<std::string> hosts_entries;  ///< "IP=HOST"
  bool interactive = false;
  bool detach = false;  ///< --detach: run as a transient service of the host's systemd
  bool remove = false;  ///< --rm: remove the pod when crt run ends
  std::optional<std::string> hostname;
  std::optional<std::string> uuid_file_save;
  std::vector<std::string> set_env;  ///< "K=V", every app
  std::vector<std::string> set_env_files;
  /// Their contents, read once by read_env_files() before the pod is
  /// planned (a pipe, as from <(…), gives its lines only once).
  std::vector<std::string> set_env_file_texts;
  bool inherit_env = false;
  std::vector<std::string> volumes;  ///< "NAME,kind=…,…"
  std::optional<std::string> stage1_path;
  bool debug = false;
  /// --stop-timeout as given; see parse_stop_timeout()
  std::optional<std::string> stop_timeout;
  /// --plugin-time-limit as given (crt run's alone); see
  /// add_plugin_time_limit_option()
  std::optional<std::string> plugin_time_limit;
  std::string pull_policy = "missing";           ///< never, missing, always
  registry::RegistryFlags registry;              ///< --creds, --authfile, --insecure-registry, --ca-file
  bool quiet = false;  ///< -q/--quiet of crt prepare: no progress, only the UUID
};

struct RunRequest {
  PodFlags pod;
  std::vector<AppRequest> apps;
};

/// Thrown when --help is among the arguments.
struct HelpRequested {};

/// The verb whose arguments are parsed: crt prepare takes crt run's, and
/// -q/--quiet among the pod flags.
enum class RunVerb { kRun, kPrepare };

/// Parses the arguments after `crt run` (or `crt prepare`):
///   [POD AND APP FLAGS] IMAGE [APP FLAGS] [-- ARGS] [--- IMAGE [APP FLAGS] [-- ARGS]]…
/// App flags before the first image apply to every app. Throws crt::Error.
RunRequest parse_run_args(const std::vector<std::string>& args, RunVerb verb = RunVerb::kRun);

/// The help line of --rm (crt run, crt run-prepared).
inline constexpr const char* kRemoveHelp =
    "Remove the pod when crt run ends, however it ends, as crt rm does: its upper directories, network and journal "
    "(crt logs, status and list know it no more; the apps' output crt wrote stays where it went, a unit's in the "
    "host's journal). A pod whose crt was killed goes once its watch has stopped it, or at the next crt gc, "
    "without its grace period";

/// The help line of --stop-timeout (crt run, crt run-prepared).
inline constexpr const char* kStopTimeoutHelp =
    "After SIGINT or SIGTERM, kill the pod if it has not stopped after this long (default 20s; seconds, or 30s, "
    "2m …); its apps get this less up to 10s for the rest of its shutdown";

/// --stop-timeout: a positive duration, or kDefaultStopTimeout when not
/// given. Throws crt::Error.
std::chrono::milliseconds parse_stop_timeout(const std::optional<std::string>& given);

/// Where --plugin-time-limit shows.
enum class OptionVisibility { kHidden, kShown };

/// Adds --plugin-time-limit to `cmd`, read into `given`: how long each
/// plugin and iptables run of a pod's network setup or teardown may take
/// (net::kPluginTimeLimit unless given; 0: no limit). For tests (crt run,
/// run-prepared, gc): hidden from their --help.
void add_plugin_time_limit_option(CLI::App& cmd, std::optional<std::string>& given,
                                  OptionVisibility visibility = OptionVisibility::kHidden);

/// --plugin-time-limit as given (add_plugin_time_limit_option()); nullopt
/// when not given. Throws crt::Error.
std::optional<std::chrono::milliseconds> parse_plugin_time_limit(const std::optional<std::string>& given);

/// The words a yes-or-no value of crt run (--notify=no) and of a pod file
/// (Notify=no) may be, in any case, for messages.
inline constexpr const char* kYesNoWords = "yes, no, true, false, on, off, 1 or 0";
/// Whether `word` is one of them.
bool is_yes_no_word(std::string_view word);

/// What CLI11's ArgumentMismatch text `what` ("--memory: 1 required TEXT
/// missing", "--name: At Most 1 required but received 2") means for the
/// user: the option needs a value, or is given more than once.
std::string argument_mismatch_text(const std::string& what);

/// When `word` (--NAME or --NAME=VALUE) is an option of crt itself (--dir,
/// --config, --local-config, --debug, --version: main.cpp defines them),
/// given after `command` ("status", "image list"), which does not take it:
/// that it goes before the command, shown with its value (that after '=',
/// else `next`, the word after it). Else "".
std::string global_option_hint(const std::string& word, const std::string& next, const std::string& command);

/// The help text of `crt run` (or `crt prepare`).
std::string run_help(RunVerb verb = RunVerb::kRun);

}  // namespace crt::pod
