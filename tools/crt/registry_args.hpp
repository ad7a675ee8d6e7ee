#pragma once

#include "commands.hpp"
#include "pod/run_args.hpp"
#include "registry/flags.hpp"
#include "runtime/image_pull.hpp"

namespace crt::cli {

/// How images are resolved and pulled: crt.conf (--config) and the registry
/// options given. A short name crt qualified with a default registry is
/// told on stderr unless `quiet`.
runtime::ResolveOptions resolve_options(const GlobalOptions& g, const registry::RegistryFlags& f, bool quiet);

/// How `crt run` and `crt prepare` find images: crt.conf, the pod's
/// --pull-policy and registry options; progress drawn on `progress`.
runtime::ResolveOptions pod_resolve_options(const GlobalOptions& g, const pod::PodFlags& pod, store::Progress& progress);

/// Whether Ctrl-C or SIGTERM is pending (while `crt run` blocks them).
bool interrupt_pending();

/// A wait for the store's locks: told on stderr unless `quiet`, and ended
/// by a pending Ctrl-C or SIGTERM.
LockWait store_lock_wait(bool quiet);

}  // namespace crt::cli
