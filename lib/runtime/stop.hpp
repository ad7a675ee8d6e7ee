#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>

#include "runtime/pods.hpp"

namespace crt::runtime {

/// Stops a running pod. Gracefully: nspawn asks the pod's systemd to power
/// off, so every app gets its stop signal and the journal is flushed; what
/// still runs after `timeout` (if none, the pod's own --stop-timeout) is
/// killed. `force`: killed at once. Returns when the pod has exited, at
/// once for one that already had; a pod that has not started is an error.
void stop_pod(const PodEntry& pod, bool force, std::optional<std::chrono::milliseconds> timeout);

/// The pod's stop-requested file (PodDir::stop_requested_file) as crt stop
/// and crt run keep it: the pod was killed (its apps could not record how
/// they ended); nspawn has had its SIGTERM (a second would kill the pod),
/// noted by send_stop_once().
void note_pod_killed(const std::filesystem::path& pod_dir);
[[nodiscard]] bool pod_was_killed(const std::filesystem::path& pod_dir);
/// Sends nspawn its one orderly-stop SIGTERM through `send` (true: sent)
/// unless one was sent or a crt stop is stopping the pod, and notes it, all
/// under the stop-requested file's lock that crt stop takes. True if sent.
bool send_stop_once(const std::filesystem::path& pod_dir, const std::function<bool()>& send);

}  // namespace crt::runtime
