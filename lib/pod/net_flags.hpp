#pragma once

#include <string>
#include <vector>

#include "pod/manifest.hpp"
#include "pod/run_args.hpp"

namespace crt::pod {

/// Checks --net, --port, --dns*, --hosts-entry as given (before any image is
/// known); throws a crt::Error naming the bad value.
void validate_net_flags(const PodFlags& flags);

/// Records the pod's network options in its manifest; --port NAME is looked
/// up among `exposed_ports`, the ports the pod's images expose.
void apply_net_flags(PodManifest& m, const PodFlags& flags, const std::vector<std::string>& exposed_ports);

}  // namespace crt::pod
