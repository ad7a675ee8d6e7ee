// crt run: boots a pod and waits for it.

#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "pod/app_config.hpp"
#include "pod/run_args.hpp"
#include "progress_view.hpp"
#include "registry_args.hpp"
#include "runtime/detach.hpp"
#include "runtime/output_writer.hpp"
#include "runtime/run.hpp"
#include "runtime/service_progress.hpp"

namespace crt::cli {

void add_run_command(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  CLI::App* run = app.add_subcommand("run", "Run a pod and wait for it to end");
  take_words_verbatim(run);  // "crt run -- CMD" is crt run's to refuse
  run->set_help_flag();
  run->allow_extras();
  // crt --help run, crt help run: the same text as crt run --help.
  run->formatter_fn([](const CLI::App*, std::string, CLI::AppFormatMode) { return pod::run_help(); });
  run->callback([run, &g, &exit_status] {
    std::vector<std::string> args = run->remaining();
    pod::RunRequest req;
    try {
      req = pod::parse_run_args(args);
    } catch (const pod::HelpRequested&) {
      std::fputs(pod::run_help().c_str(), stdout);
      exit_status = 0;
      return;
    }
    require_root("crt run");
    // Before the store's lock and crt's signal handling: a FIFO no one writes
    // waits for ^C, holding nothing.
    pod::read_env_files(req.pod);
    if (g.debug) req.pod.debug = true;
    ProgressView view(stderr, false);
    runtime::ServiceProgress progress(view, runtime::service_notifier());
    runtime::RunContext ctx{g.dir, data_dir(), {}, pod_resolve_options(g, req.pod, progress), g.local_config, print_message};
    if (req.pod.debug) {
      auto start = std::chrono::steady_clock::now();
      ctx.trace = [start](std::string_view what) {
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        char stamp[32];
        std::snprintf(stamp, sizeof stamp, "crt: [%7.1f ms] ", ms);
        runtime::write_stderr(std::string(stamp).append(what).append("\n"));
      };
    }
    if (req.pod.detach) {
      std::printf("%s\n", runtime::run_detached(req, ctx).c_str());
      return;
    }
    exit_status = runtime::run_pod(req, ctx);
  });
}

}  // namespace crt::cli
