#pragma once

#include "runtime/prepare.hpp"
#include "runtime/run.hpp"
#include "runtime/signals.hpp"

namespace crt::runtime {

/// Boots a prepared, mounted pod in run/ with systemd-nspawn, supervises it
/// to its end and returns crt run's exit status. If it fails before nspawn
/// starts, `rollback_mode` says what becomes of the pod.
int launch_pod(PreparedPod& p, const LaunchOptions& opts, const RunContext& ctx, const SignalBlock& signals,
               PodRollback::Mode rollback_mode);

}  // namespace crt::runtime
