#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "pod/run_args.hpp"
#include "runtime/image_pull.hpp"

namespace crt::cli {

/// The registry options of `crt image pull`.
struct RegistryArgs {
  std::string creds;
  std::vector<std::string> authfiles;
  std::vector<std::string> insecure;
  std::string ca_file;
  std::string platform;
};

void add_registry_options(CLI::App& cmd, RegistryArgs& a);

/// How images are resolved and pulled: crt.conf (--config) and the options
/// given. A short name crt qualified with a default registry is told on
/// stderr unless `quiet`.
runtime::ResolveOptions resolve_options(const GlobalOptions& g, const RegistryArgs& a, bool quiet);

/// How `crt run` and `crt prepare` find images: crt.conf, and the pod's
/// --pull-policy and --insecure-registry; progress drawn on `progress`.
runtime::ResolveOptions pod_resolve_options(const GlobalOptions& g, const pod::PodFlags& pod, store::Progress& progress);

/// Whether Ctrl-C or SIGTERM is pending (while `crt run` blocks them).
bool interrupt_pending();

}  // namespace crt::cli
