#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

namespace crt::cli {

/// Options every verb shares.
struct GlobalOptions {
  std::string dir = "/var/lib/crt";
  bool debug = false;
};

/// Each verb registers its subcommand; the callback it installs runs the
/// verb and stores the process exit status in `exit_status`.
void add_run_command(CLI::App& app, const GlobalOptions& g, int& exit_status);
void add_image_command(CLI::App& app, const GlobalOptions& g, int& exit_status);

/// Throws a crt::Error unless running as root.
void require_root(const std::string& what);

/// The data directory (stage1, built-in images) of this crt.
std::filesystem::path data_dir();

}  // namespace crt::cli
