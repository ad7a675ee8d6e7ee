#pragma once

#include <chrono>
#include <filesystem>

namespace crt::prepare_app {

/// Waits until `file` exists (created or renamed into its directory by
/// someone else, with inotify); throws a crt::Error after `timeout`.
void wait_for_file(const std::filesystem::path& file, std::chrono::milliseconds timeout);

}  // namespace crt::prepare_app
