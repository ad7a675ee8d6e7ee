#include "registry_args.hpp"

#include <cstdio>
#include <filesystem>

#include "common/stop_signal.hpp"
#include "config/crt_conf.hpp"
#include "runtime/pods.hpp"

namespace crt::cli {

bool interrupt_pending() { return pending_stop_signal() != 0; }

runtime::ResolveOptions resolve_options(const GlobalOptions& g, const registry::RegistryFlags& f, bool quiet) {
  // The default file may be missing (no configuration); one asked for not.
  if (g.config_given && !std::filesystem::exists(g.config)) throw Error("--config: no file " + quote(g.config));
  config::CrtConfig conf = config::load_config(g.config);
  runtime::ResolveOptions r;
  r.default_registries = conf.default_registries;
  r.config_file = g.config;
  r.pull.insecure_registries = conf.insecure_registries;
  r.pull.insecure_registries.insert(r.pull.insecure_registries.end(), f.insecure.begin(), f.insecure.end());
  r.pull.ca_file = f.ca_file.empty() ? conf.ca_file : f.ca_file;
  r.pull.certs_dir = std::filesystem::path(g.local_config) / "certs.d";
  if (!f.creds.empty()) r.pull.credentials = registry::parse_creds(f.creds);
  // The default auth files may be missing; those asked for not (a typo
  // would otherwise pull without credentials, and fail as "unauthorized").
  for (const auto& file : f.authfiles)
    if (!std::filesystem::is_regular_file(file)) throw Error("--authfile: no file " + quote(file));
  if (!f.ca_file.empty() && !std::filesystem::is_regular_file(f.ca_file))
    throw Error("--ca-file: no file " + quote(f.ca_file));
  if (!f.authfiles.empty()) r.pull.auth_files.assign(f.authfiles.begin(), f.authfiles.end());
  r.pull.cancelled = interrupt_pending;
  // A failed pull takes out again what it added to the store, but these.
  r.pull.pinned = runtime::pinned_layers(g.dir);
  if (!quiet) r.notice = [](const std::string& s) { print_message(s); };
  r.store_wait = store_lock_wait(quiet);
  return r;
}

LockWait store_lock_wait(bool quiet) {
  LockWait w;
  if (!quiet) w.waiting = [](const std::string& what) { print_message("waiting for " + what); };
  w.cancelled = interrupt_pending;
  return w;
}

runtime::ResolveOptions pod_resolve_options(const GlobalOptions& g, const pod::PodFlags& pod, store::Progress& progress) {
  runtime::ResolveOptions r = resolve_options(g, pod.registry, pod.quiet);
  r.policy = runtime::parse_pull_policy(pod.pull_policy);
  r.progress = &progress;
  return r;
}

}  // namespace crt::cli
