#include "runtime/nspawn.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "common/error.hpp"

namespace crt::runtime {

std::vector<std::string> nspawn_command(const pod::PodManifest& pod, const NspawnOptions& opts) {
  std::vector<std::string> a = {opts.binary, "--boot", "--notify-ready=yes"};
  if (!opts.debug) a.push_back("--quiet");
  a.push_back("--machine=" + pod.machine_name());
  a.push_back("--uuid=" + pod.uuid);
  a.push_back("--hostname=" + pod.hostname);
  a.push_back("--link-journal=try-guest");
  a.push_back("--directory=" + opts.stage1_rootfs.string());
  a.push_back("--register=no");
  a.push_back("--keep-unit");
  switch (opts.console) {
    case Console::kPassive: a.push_back("--console=passive"); break;
    case Console::kInteractive: a.push_back("--console=interactive"); break;
    case Console::kReadOnly: a.push_back("--console=read-only"); break;
  }
  if (pod.net == "none") a.push_back("--private-network");
  if (!opts.network_namespace_path.empty()) a.push_back("--network-namespace-path=" + opts.network_namespace_path);
  // The pod's systemd lowers an app's OOM score only with CAP_SYS_RESOURCE,
  // which nspawn does not give by default; the app itself stays without it.
  if (std::any_of(pod.apps.begin(), pod.apps.end(), [](const auto& app) { return app.oom_score_adj.value_or(0) < 0; }))
    a.push_back("--capability=CAP_SYS_RESOURCE");
  // The pod's systemd looks for units and drop-ins only where stage1 and
  // crt put them, and where systemctl puts runtime changes (set-property,
  // transient units): not in the other nine directories of its default
  // path, which it would search for every unit and each of its names.
  a.push_back("--setenv=SYSTEMD_UNIT_PATH=" + std::string(kPodUnitPath));
  // journald's "flushed" marker, there before journald starts: it writes to
  // the pod's /var/log/journal at once. (A BindReadOnlyPaths= in journald's
  // unit would build it a mount namespace, while the apps wait for it.)
  a.push_back("--bind-ro=+/usr/lib/crt/journal-flushed:/run/systemd/journal/flushed");
  a.insert(a.end(), opts.extra.begin(), opts.extra.end());
  // Arguments of the pod's systemd.
  a.push_back("--");
  a.push_back("--show-status=0");
  if (opts.debug) {
    a.push_back("--log-level=debug");
  } else if (opts.console == Console::kInteractive) {
    // The console is the user's terminal: keep the pod's own warnings about
    // the host's cgroup layout off it.
    a.push_back("--log-level=crit");
  } else {
    // Errors reach the pod's journal; crt relays them.
    a.push_back("--log-level=warning");
  }
  if (!opts.console_colors) a.push_back("--log-color=no");
  return a;
}

void check_nspawn_installed(const std::string& binary) {
  if (binary.find('/') != std::string::npos && ::access(binary.c_str(), X_OK) == 0) return;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (::access(((dir.empty() ? "." : dir) + "/" + binary).c_str(), X_OK) == 0) return;
    start = end + 1;
  }
  throw Error(binary +
              " is not installed (not in $PATH): crt boots every pod with it; on Debian it is in package "
              "systemd-container");
}

}  // namespace crt::runtime
