#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace crt::runtime {

struct SuperviseOptions {
  pid_t nspawn_pid = -1;
  /// The pod's journal directory; empty: do not follow it (interactive pods
  /// write straight to the terminal).
  std::filesystem::path journal_dir;
  std::vector<std::string> apps;
  bool prefix_app_names = false;  ///< multi-app pods: "app: line"
};

/// Waits for nspawn to exit while copying the apps' output from the pod's
/// journal to stdout (and the pod's own errors to stderr), and turning
/// SIGINT/SIGTERM/SIGHUP into a graceful stop of the pod (a second one stops
/// it at once). Returns nspawn's exit status (128 + signal if killed). Expects SIGCHLD, SIGINT,
/// SIGTERM and SIGHUP to be blocked.
int supervise(const SuperviseOptions& opts);

}  // namespace crt::runtime
