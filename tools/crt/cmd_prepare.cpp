// crt prepare and crt run-prepared: a pod in two steps.

#include <cstdio>

#include "commands.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "pod/app_config.hpp"
#include "pod/run_args.hpp"
#include "progress_view.hpp"
#include "registry_args.hpp"
#include "runtime/detach.hpp"
#include "runtime/run.hpp"
#include "runtime/service_progress.hpp"

namespace crt::cli {

namespace {

void add_prepare(CLI::App& app, const GlobalOptions& g) {
  CLI::App* cmd = app.add_subcommand("prepare", "Prepare a pod to run later (prints its UUID)");
  take_words_verbatim(cmd);
  cmd->set_help_flag();
  cmd->allow_extras();
  cmd->formatter_fn([](const CLI::App*, std::string, CLI::AppFormatMode) { return pod::run_help(pod::RunVerb::kPrepare); });
  cmd->callback([cmd, &g] {
    pod::RunRequest req;
    try {
      req = pod::parse_run_args(cmd->remaining(), pod::RunVerb::kPrepare);
    } catch (const pod::HelpRequested&) {
      std::fputs(pod::run_help(pod::RunVerb::kPrepare).c_str(), stdout);
      return;
    }
    if (req.pod.interactive || req.pod.debug || req.pod.remove || req.pod.stop_timeout)
      throw Error(
          "--interactive, --debug, --rm and --stop-timeout are options of 'crt run-prepared', not of 'crt prepare'");
    if (req.pod.detach)
      throw Error("--detach is an option of starting a pod, not of preparing one: use 'crt run-prepared --detach "
                  "UUID' after 'crt prepare', or 'crt run --detach'");
    require_root("crt prepare");
    // Before the store's lock and crt's signal handling: a FIFO no one writes
    // waits for ^C, holding nothing.
    pod::read_env_files(req.pod);
    ProgressView view(stderr, req.pod.quiet);
    runtime::ServiceProgress progress(view, runtime::service_notifier());
    std::string uuid = runtime::prepare_only(req, {g.dir, data_dir(), {}, pod_resolve_options(g, req.pod, progress), g.local_config, print_message});
    std::printf("%s\n", uuid.c_str());
    if (!req.pod.quiet) print_message("prepared pod " + uuid + "; run it with 'crt run-prepared " + uuid + "'");
  });
}

void add_run_prepared(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  struct Args {
    PodRef ref;
    bool interactive = false;
    bool debug = false;
    bool detach = false;
    bool remove = false;
    std::optional<std::string> stop_timeout;
    std::optional<std::string> plugin_time_limit;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("run-prepared", "Run a prepared pod and wait for it to end");
  add_pod_ref(cmd, a->ref);
  cmd->add_flag("--interactive", a->interactive, "Give the app crt's stdin, stdout and stderr, as a terminal when they are one (one app only)");
  cmd->add_flag("--debug", a->debug, "Show what crt, nspawn and the pod's systemd are doing");
  cmd->add_flag("--detach", a->detach,
                "Run the pod as the service crt-UUID.service of the host's systemd; print its UUID once it is ready")
      ->excludes("--interactive");
  cmd->add_flag("--rm", a->remove, pod::kRemoveHelp);
  cmd->add_option("--stop-timeout", a->stop_timeout, pod::kStopTimeoutHelp);
  pod::add_plugin_time_limit_option(*cmd, a->plugin_time_limit);
  cmd->callback([a, &g, &exit_status] {
    require_root("crt run-prepared");
    runtime::LaunchOptions opts{a->interactive, a->debug || g.debug, pod::parse_stop_timeout(a->stop_timeout),
                                a->remove};
    if (auto limit = pod::parse_plugin_time_limit(a->plugin_time_limit)) opts.plugin_time_limit = *limit;
    runtime::RunContext ctx{g.dir, data_dir(), {}, {}, g.local_config, print_message};
    if (a->detach) {
      std::string uuid =
          with_pod_ref(a->ref, [&](const std::string& pod) { return runtime::run_prepared_detached(pod, opts, ctx); });
      std::printf("%s\n", uuid.c_str());
      return;
    }
    exit_status = with_pod_ref(a->ref, [&](const std::string& pod) { return runtime::run_prepared(pod, opts, ctx); });
  });
}

}  // namespace

void add_prepare_commands(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  add_prepare(app, g);
  add_run_prepared(app, g, exit_status);
}

}  // namespace crt::cli
