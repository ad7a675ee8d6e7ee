// crt: a systemd-native pod manager (stage0).

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/images.hpp"
#include "runtime/run.hpp"
#include "runtime/signals.hpp"

namespace crt::cli {

void require_root(const std::string& what) {
  if (::geteuid() != 0) throw Error(what + " needs root privileges (run it as root or with sudo)");
}

std::filesystem::path data_dir() { return runtime::default_data_dir(); }

void add_pod_ref(CLI::App* cmd, PodRef& ref) {
  cmd->add_option("POD", ref.pod, "The pod: its UUID, a unique prefix of it, or its name");
  cmd->add_option("--uuid-file", ref.uuid_file, "Read the pod's UUID from this file (see --uuid-file-save)");
}

std::string pod_ref_string(const PodRef& ref) {
  if (!ref.uuid_file.empty()) {
    if (!ref.pod.empty()) throw Error("give either POD or --uuid-file, not both");
    std::string s = crt::fs::read_file(ref.uuid_file);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (s.empty()) throw Error(quote(ref.uuid_file) + " holds no UUID");
    return s;
  }
  if (ref.pod.empty()) throw Error("no pod given (POD or --uuid-file)");
  return ref.pod;
}

/// A command-line error in crt's one-line style: what is wrong, and which
/// --help to read.
std::string usage_error(const CLI::App& app, const CLI::ParseError& e) {
  // The commands parsed before the error ("crt image").
  std::string path = "crt";
  const CLI::App* cur = &app;
  while (!cur->get_subcommands().empty()) {
    cur = cur->get_subcommands().front();
    path += " " + cur->get_name();
  }
  std::string what = e.what();
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && what == "A subcommand is required") {
    std::vector<std::string> words = cur->remaining();
    auto word = std::find_if(words.begin(), words.end(), [](const std::string& w) { return !w.empty() && w[0] != '-'; });
    std::string parent = path.size() > 4 ? path.substr(4) + " " : "";  // after "crt "
    what = word != words.end() ? "unknown command " + quote(parent + *word) : "a command is needed";
  } else if (const std::string extra = "The following argument was not expected: "; what.rfind(extra, 0) == 0) {
    what = "unexpected argument " + quote(what.substr(extra.size()));
  } else if (const std::string extras = "The following arguments were not expected: "; what.rfind(extras, 0) == 0) {
    what = "unexpected arguments " + what.substr(extras.size());
  }
  return what + " (see '" + path + " --help')";
}

}  // namespace crt::cli

int main(int argc, char** argv) {
  CLI::App app("crt: run pods of OCI-style images as sandboxed services of a small systemd, booted by "
               "systemd-nspawn.",
               "crt");
  app.require_subcommand(1);
  crt::cli::GlobalOptions g;
  app.add_option("--dir", g.dir, "Directory of crt's state: image store and pods")->capture_default_str();
  app.add_option("--config", g.config, "crt's configuration file (registries)")->capture_default_str();
  app.add_option("--local-config", g.local_config, "Directory of the local configuration: networks in net.d/")
      ->capture_default_str();
  app.add_flag("--debug", g.debug, "Print more about what crt does");
  app.set_version_flag("--version", CRT_VERSION);
  int status = 0;
  crt::cli::add_run_command(app, g, status);
  crt::cli::add_prepare_commands(app, g, status);
  crt::cli::add_status_commands(app, g, status);
  crt::cli::add_stop_commands(app, g, status);
  crt::cli::add_logs_command(app, g, status);
  crt::cli::add_enter_commands(app, g, status);
  crt::cli::add_inspect_command(app, g, status);
  crt::cli::add_export_command(app, g, status);
  crt::cli::add_image_command(app, g, status);
  crt::cli::add_pod_file_command(app, g, status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "crt: %s\n", crt::cli::usage_error(app, e).c_str());
    return crt::kErrorExitCode;
  } catch (const crt::runtime::Interrupted& e) {
    std::fprintf(stderr, "crt: %s\n", e.what());
    return 128 + e.signal();
  } catch (const crt::Error& e) {
    std::fprintf(stderr, "crt: %s\n", e.what());
    return crt::kErrorExitCode;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crt: internal error: %s\n", e.what());
    return crt::kErrorExitCode;
  }
  return status;
}
