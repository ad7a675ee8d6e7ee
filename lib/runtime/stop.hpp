#pragma once

#include <chrono>
#include <filesystem>

#include "runtime/pods.hpp"

namespace crt::runtime {

/// Stops a running pod. Gracefully: nspawn asks the pod's systemd to power
/// off, so every app gets its stop signal and the journal is flushed; what
/// still runs after `timeout` is killed. `force`: killed at once. Returns
/// when the pod has exited.
void stop_pod(const PodEntry& pod, bool force, std::chrono::milliseconds timeout);

}  // namespace crt::runtime
