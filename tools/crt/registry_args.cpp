#include "registry_args.hpp"

#include <csignal>
#include <cstdio>

#include "config/crt_conf.hpp"

namespace crt::cli {

void add_registry_options(CLI::App& cmd, RegistryArgs& a) {
  cmd.add_option("--creds", a.creds, "USER:PASSWORD for the registry (else from the auth files)");
  cmd.add_option("--authfile", a.authfiles,
                 "containers-auth.json or docker config.json to take credentials from (default: $REGISTRY_AUTH_FILE, "
                 "$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json)")
      ->allow_extra_args(false);
  cmd.add_option("--insecure-registry", a.insecure,
                 "Reach this registry (HOST[:PORT]) over plain HTTP or unverified HTTPS")
      ->allow_extra_args(false);
  cmd.add_option("--ca-file", a.ca_file, "PEM bundle of CAs to trust besides the system's");
  cmd.add_option("--platform", a.platform, "OS/ARCH[/VARIANT] to take from a multi-platform image (default: this machine's)");
}

bool interrupt_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) || sigismember(&pending, SIGHUP);
}

runtime::ResolveOptions resolve_options(const GlobalOptions& g, const RegistryArgs& a, bool quiet) {
  config::CrtConfig conf = config::load_config(g.config);
  runtime::ResolveOptions r;
  r.default_registries = conf.default_registries;
  r.pull.insecure_registries = conf.insecure_registries;
  r.pull.insecure_registries.insert(r.pull.insecure_registries.end(), a.insecure.begin(), a.insecure.end());
  r.pull.ca_file = a.ca_file.empty() ? conf.ca_file : a.ca_file;
  if (!a.creds.empty()) r.pull.credentials = registry::parse_creds(a.creds);
  if (!a.authfiles.empty()) r.pull.auth_files.assign(a.authfiles.begin(), a.authfiles.end());
  if (!a.platform.empty()) r.pull.platform = store::oci::parse_platform(a.platform);
  r.pull.cancelled = interrupt_pending;
  if (!quiet) r.notice = [](const std::string& s) { std::fprintf(stderr, "crt: %s\n", s.c_str()); };
  return r;
}

runtime::ResolveOptions pod_resolve_options(const GlobalOptions& g, const pod::PodFlags& pod, store::Progress& progress) {
  RegistryArgs reg;
  reg.insecure = pod.insecure_registries;
  runtime::ResolveOptions r = resolve_options(g, reg, pod.quiet);
  r.policy = runtime::parse_pull_policy(pod.pull_policy);
  r.progress = &progress;
  return r;
}

}  // namespace crt::cli
