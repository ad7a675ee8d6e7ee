#pragma once

#include <chrono>
#include <filesystem>

namespace crt::prepare_app {

/// Waits until `file` exists (created or renamed into its directory by
/// someone else, with inotify); throws a crt::Error after `timeout`, or as
/// soon as the process listening on the unix socket `writer` (the one that
/// is to make the file) has closed it without making the file. Without a
/// socket there, only the timeout applies.
void wait_for_file(const std::filesystem::path& file, std::chrono::milliseconds timeout,
                   const std::filesystem::path& writer);

}  // namespace crt::prepare_app
