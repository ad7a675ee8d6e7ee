#pragma once

#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.hpp"
#include "config/crt_conf.hpp"
#include "runtime/pods.hpp"

namespace crt::cli {

/// Options every verb shares.
struct GlobalOptions {
  std::string dir = config::kDefaultStoreDir;
  std::string config = config::kDefaultConfigPath;
  bool config_given = false;  ///< --config was given: its file must exist
  std::string local_config = "/etc/crt";
  bool debug = false;
  /// The umask crt was started with (it runs with 022): a file crt writes
  /// where the user said (an export's archive) follows it.
  mode_t callers_umask = 022;
};

/// The type name (in --help) of an option whose value is one word of a
/// command line (image import's --cmd): an empty word is a value of its own
/// there ('--cmd ""'), where for every other option it is refused as a
/// mistake (an unset variable).
inline constexpr const char* kArgumentWord = "ARG";

/// Each verb registers its subcommand; the callback it installs runs the
/// verb and stores the process exit status in `exit_status`.
void add_run_command(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_prepare_commands(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_status_commands(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_stop_commands(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_enter_commands(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_inspect_command(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_export_command(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_logs_command(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_image_command(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_pod_file_command(CLI::App& app, const GlobalOptions& g, int& exit_status);

/// A usage line that ends in `words`: what a prefix_command() takes
/// verbatim, which CLI11 cannot list as positionals (its own positionals,
/// if any, are left out: `words` says them).
class UsageFormatter : public CLI::Formatter {
 public:
  explicit UsageFormatter(std::string words) : words_(std::move(words)) {}
  std::string make_usage(const CLI::App* app, std::string name) const override {
    bool options = !app->get_options([](const CLI::Option* o) { return o->nonpositional(); }).empty();
    return get_label("Usage") + ": " + name + (options ? " [" + get_label("OPTIONS") + "]" : "") + " " + words_ + "\n";
  }

 private:
  std::string words_;
};

/// A pod named on the command line: POD (UUID, unique prefix or name) or
/// --uuid-file=FILE.
struct PodRef {
  std::string pod;
  std::string uuid_file;
};
/// Adds POD and --uuid-file to a command.
void add_pod_ref(CLI::App* cmd, PodRef& ref);
/// The reference given, read from the UUID file if that was used.
std::string pod_ref_string(const PodRef& ref);

/// The error for a UUID that --uuid-file `file` holds and no pod has:
/// which file, which UUID, and why that may be.
Error no_pod_of_uuid_file(const std::string& file, const std::string& uuid);

/// Runs `body` on the pod reference given (pod_ref_string()); where it came
/// from --uuid-file and names no pod, the error says which file held it
/// (runtime::NoSuchPod alone would name a UUID the user never typed).
template <typename F>
decltype(auto) with_pod_ref(const PodRef& ref, F&& body) {
  std::string pod = pod_ref_string(ref);
  try {
    return std::forward<F>(body)(pod);
  } catch (const runtime::NoSuchPod& e) {
    if (ref.uuid_file.empty() || e.ref() != pod) throw;
    throw no_pod_of_uuid_file(ref.uuid_file, pod);
  }
}

/// Adds --format=TEXT|json, TEXT being "table" (crt list) or "text" (crt
/// status): each command takes the other's name for it too.
CLI::Option* add_format_option(CLI::App* cmd, std::string& format, const std::string& text);

/// The words after a command's options are taken verbatim ("--" too): a
/// pod and a command (crt enter), or crt run's own arguments.
void take_words_verbatim(CLI::App* cmd);

/// Throws a crt::Error unless running as root.
void require_root(const std::string& what);

/// Prints what library code tells the user (crt::MessageSink): "crt: MESSAGE"
/// on stderr.
void print_message(std::string_view message);
/// The same for why a command failed (crt::Error), which matters more where
/// it goes to the journal (runtime::send_stderr_to_journal()).
void print_error(std::string_view message);

/// The data directory (stage1, built-in images) of this crt.
std::filesystem::path data_dir();

}  // namespace crt::cli
