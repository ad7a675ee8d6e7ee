// crt prepare and crt run-prepared: a pod in two steps.

#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "pod/run_args.hpp"
#include "progress_view.hpp"
#include "registry_args.hpp"
#include "runtime/run.hpp"

namespace crt::cli {

namespace {

void add_prepare(CLI::App& app, const GlobalOptions& g) {
  CLI::App* cmd = app.add_subcommand("prepare", "Prepare a pod to run later (prints its UUID)");
  cmd->prefix_command();
  cmd->set_help_flag();
  cmd->allow_extras();
  cmd->callback([cmd, &g] {
    std::vector<std::string> args = cmd->remaining();
    bool quiet = false;
    std::erase_if(args, [&](const std::string& a) {
      if (a != "--quiet" && a != "-q") return false;
      quiet = true;
      return true;
    });
    pod::RunRequest req;
    try {
      req = pod::parse_run_args(args);
    } catch (const pod::HelpRequested&) {
      std::string help = pod::run_help();
      help.replace(help.find("crt run "), 8, "crt prepare [--quiet] ");
      std::fputs(help.c_str(), stdout);
      std::puts("\ncrt prepare takes the options of crt run but --interactive and --debug,\n"
                "which belong to crt run-prepared. It prints the pod's UUID.");
      return;
    }
    if (req.pod.interactive || req.pod.debug)
      throw Error("--interactive and --debug are options of 'crt run-prepared', not of 'crt prepare'");
    require_root("crt prepare");
    ProgressView progress(stderr, quiet);
    std::string uuid = runtime::prepare_only(req, {g.dir, data_dir(), {}, pod_resolve_options(g, req.pod, progress), g.local_config});
    std::printf("%s\n", uuid.c_str());
    if (!quiet) std::fprintf(stderr, "crt: prepared pod %s; run it with 'crt run-prepared %s'\n", uuid.c_str(), uuid.c_str());
  });
}

void add_run_prepared(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  struct Args {
    PodRef ref;
    bool interactive = false;
    bool debug = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("run-prepared", "Run a prepared pod and wait for it to end");
  add_pod_ref(cmd, a->ref);
  cmd->add_flag("--interactive", a->interactive, "Attach the terminal to the app's stdin and stdout (one app only)");
  cmd->add_flag("--debug", a->debug, "Show what crt, nspawn and the pod's systemd are doing");
  cmd->callback([a, &g, &exit_status] {
    require_root("crt run-prepared");
    exit_status = runtime::run_prepared(pod_ref_string(a->ref), a->interactive, a->debug || g.debug,
                                        {g.dir, data_dir(), {}, {}, g.local_config});
  });
}

}  // namespace

void add_prepare_commands(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  add_prepare(app, g);
  add_run_prepared(app, g, exit_status);
}

}  // namespace crt::cli
