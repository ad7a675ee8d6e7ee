// crt: a systemd-native pod manager (stage0).

#include <unistd.h>

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
    int rc = app.exit(e);
    return rc == 0 ? 0 : crt::kErrorExitCode;
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
