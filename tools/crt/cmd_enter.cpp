// crt enter (and crt exec): run a command inside a running app, within its
// sandbox.

#include <unistd.h>

#include "commands.hpp"
#include "common/error.hpp"
#include "pod/run_args.hpp"
#include "runtime/enter.hpp"
#include "runtime/pods.hpp"

namespace crt::cli {

namespace {

struct EnterArgs {
  std::string app;
  std::vector<std::string> rest;  ///< POD [CMD ARGS…]
  std::string uuid_file;
  bool interactive = false, tty = false;
};

void run_enter(const GlobalOptions& g, const EnterArgs& a, const std::string& name, int& exit_status,
               runtime::EnterInput input) {
  const bool want_tty = input == runtime::EnterInput::kTerminal;
  std::vector<std::string> rest = a.rest;
  std::string ref;
  if (a.uuid_file.empty()) {
    bool ended = !rest.empty() && rest.front() == "--";  // crt enter -- POD: POD may start with '-'
    if (ended) rest.erase(rest.begin());
    if (rest.empty()) throw Error("no pod given (POD or --uuid-file)");
    ref = rest.front();
    rest.erase(rest.begin());
    // The options end at POD: a word before it that CLI11 did not know is
    // no pod, but an option this command does not take.
    if (!ended && ref.size() > 1 && ref[0] == '-') {
      std::string hint = pod::global_option_hint(ref, rest.empty() ? "" : rest.front(), name);
      throw Error(!hint.empty() ? hint : "unknown option " + quote(ref) + " (see 'crt " + name + " --help')");
    }
  }
  require_root("crt " + name);
  PodRef given{ref, a.uuid_file};
  // "--" may end crt's own options, as in crt run: the command follows.
  if (!rest.empty() && rest.front() == "--") rest.erase(rest.begin());
  if (want_tty && ::isatty(0) == 0) throw Error("-t needs a terminal on stdin");
  runtime::PodEntry e = with_pod_ref(given, [&](const std::string& pod) { return runtime::find_pod(g.dir, pod); });
  exit_status = runtime::enter_app(e, a.app, rest, input, print_message);
}

CLI::App* add(CLI::App& app, const char* name, const char* what, const std::shared_ptr<EnterArgs>& a) {
  CLI::App* cmd = app.add_subcommand(name, what);
  cmd->formatter(std::make_shared<UsageFormatter>("POD [--] [CMD [ARG...]]"));
  cmd->add_option("--app", a->app, "The app to enter (needed when the pod has several)");
  cmd->add_option("--uuid-file", a->uuid_file, "Read the pod's UUID from this file");
  // POD [CMD ARGS…] are taken verbatim after the options (see remaining()).
  take_words_verbatim(cmd);
  cmd->footer("POD is the pod's UUID, a unique prefix or its name (--uuid-file replaces it); CMD defaults to the image's "
      "/bin/sh.");
  return cmd;
}

}  // namespace

void add_enter_commands(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  auto a = std::make_shared<EnterArgs>();
  CLI::App* enter = add(app, "enter", "Run a command in a running app, within the app's sandbox", a);
  enter->footer(std::string(enter->get_footer()) +
                " On a terminal (stdin, stdout and stderr all), the command gets a terminal of the pod's own, as "
                "with crt exec -it.");
  enter->callback([a, enter, &g, &exit_status] {
    a->rest = enter->remaining();
    bool terminal = ::isatty(0) == 1 && ::isatty(1) == 1 && ::isatty(2) == 1;
    run_enter(g, *a, "enter", exit_status, terminal ? runtime::EnterInput::kTerminal : runtime::EnterInput::kPiped);
  });

  auto e = std::make_shared<EnterArgs>();
  CLI::App* exec = add(app, "exec", "Like enter, with Docker's -i and -t", e);
  exec->add_flag("-i,--interactive", e->interactive,
                 "Give the command crt's stdin (without -i or -t, its stdin is /dev/null, and crt reads none of its "
                 "own)");
  exec->add_flag("-t,--tty", e->tty,
                 "Run the command on a terminal of the pod's own, relayed to crt's (which must be one), its input "
                 "too");
  exec->callback([e, exec, &g, &exit_status] {
    e->rest = exec->remaining();
    using runtime::EnterInput;
    run_enter(g, *e, "exec", exit_status,
              e->tty           ? EnterInput::kTerminal
              : e->interactive ? EnterInput::kPiped
                               : EnterInput::kNone);
  });
}

}  // namespace crt::cli
