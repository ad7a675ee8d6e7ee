#pragma once

#include <chrono>
#include <filesystem>

#include "runtime/pods.hpp"

namespace crt::runtime {

/// Stops a running pod. Gracefully: nspawn asks the pod's systemd to power
/// off, so every app gets its stop signal and the journal is flushed; what
/// still runs after `timeout` is killed. `force`: killed at once. Returns
/// when the pod has exited, at once for one that already had; a pod that
/// has not started is an error.
void stop_pod(const PodEntry& pod, bool force, std::chrono::milliseconds timeout);

/// The pod's stop-requested file (PodDir::stop_requested_file) as crt stop
/// and crt run keep it: nspawn has had its SIGTERM (a second would kill the
/// pod); the pod was killed (its apps could not record how they ended).
void note_stop_sent(const std::filesystem::path& pod_dir);
void note_pod_killed(const std::filesystem::path& pod_dir);
[[nodiscard]] bool pod_was_killed(const std::filesystem::path& pod_dir);
[[nodiscard]] bool stop_was_sent(const std::filesystem::path& pod_dir);

}  // namespace crt::runtime
