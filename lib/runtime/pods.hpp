#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/pod_dir.hpp"

namespace crt::runtime {

/// A pod directory found on disk.
struct PodEntry {
  std::string uuid;
  PodState dir_state;  ///< the folder it is in
  std::filesystem::path path;
  bool locked = false;  ///< in run/: running; in prepare/: being prepared
};

/// Every pod directory under `state_dir`/pods.
std::vector<PodEntry> list_pods(const std::filesystem::path& state_dir);

/// Pods being prepared, prepared or running whose manifest uses image `id`
/// (as an app or as stage1).
std::vector<std::string> pods_using_image(const std::filesystem::path& state_dir, const std::string& id);

}  // namespace crt::runtime
