#pragma once

#include <filesystem>
#include <string>

#include "pod/run_args.hpp"
#include "runtime/run.hpp"

namespace crt::runtime {

/// The transient service a detached pod runs as.
std::string detached_unit_name(const std::string& uuid);

/// crt run --detach: prepares the pod, then has the host's systemd run
/// `crt run-prepared UUID` as the transient service crt-UUID.service in
/// machine.slice (Type=notify, Delegate=yes, KillMode=mixed) and waits until
/// the pod is ready. Returns the pod's UUID. Needs a host running systemd.
std::string run_detached(const pod::RunRequest& req, const RunContext& ctx);

/// crt run-prepared --detach: runs the prepared pod `ref` as crt run
/// --detach does. Returns the pod's UUID.
std::string run_prepared_detached(const std::string& ref, const LaunchOptions& opts, const RunContext& ctx);

}  // namespace crt::runtime
