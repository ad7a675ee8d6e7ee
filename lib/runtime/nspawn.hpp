#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pod/manifest.hpp"

namespace crt::runtime {

/// How nspawn connects the pod's console.
enum class Console { kPassive, kInteractive, kReadOnly };

struct NspawnOptions {
  std::string binary = "systemd-nspawn";
  std::filesystem::path stage1_rootfs;
  Console console = Console::kPassive;
  bool register_machine = false;  ///< --register=yes: a machine of systemd-machined (host runs systemd)
  bool keep_unit = true;          ///< --keep-unit: no scope of its own (no host systemd, or crt runs in a unit)
  bool debug = false;
  std::vector<std::string> extra;  ///< e.g. cgroup binds
  /// The pod's own network namespace, made by crt (--net=default and others).
  std::string network_namespace_path;
};

/// The command line that boots a pod's stage1.
std::vector<std::string> nspawn_command(const pod::PodManifest& pod, const NspawnOptions& opts);

}  // namespace crt::runtime
