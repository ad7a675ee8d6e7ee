#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pod/manifest.hpp"

namespace crt::runtime {

/// The unit search path of the pod's systemd (SYSTEMD_UNIT_PATH): runtime
/// changes (systemctl set-property, transient units), crt's units for the
/// pod, stage1's own.
inline constexpr const char* kPodUnitPath =
    "/etc/systemd/system.control:/run/systemd/system.control:/run/systemd/transient:"
    "/etc/systemd/system:/usr/lib/systemd/system";

/// How nspawn connects the pod's console.
enum class Console { kPassive, kInteractive, kReadOnly };

struct NspawnOptions {
  std::string binary = "systemd-nspawn";
  std::filesystem::path stage1_rootfs;
  Console console = Console::kPassive;
  bool debug = false;
  /// The pod's console is a terminal someone looks at (the user's, also
  /// with --debug): the pod's systemd highlights its errors. Else (a log
  /// file) they are plain text.
  bool console_colors = false;
  std::vector<std::string> extra;  ///< e.g. cgroup binds
  /// The pod's own network namespace, made by crt (--net=default and others).
  std::string network_namespace_path;
};

/// The command line that boots a pod's stage1. nspawn neither registers
/// the pod with machined nor makes it a scope (--register=no --keep-unit):
/// crt does both, so that the machine is recorded as crt's.
std::vector<std::string> nspawn_command(const pod::PodManifest& pod, const NspawnOptions& opts);

/// Throws, saying which package has it, if `binary` is not found in $PATH:
/// before a pod is prepared, rather than as an exit status 127 once its
/// mounts and network are made.
void check_nspawn_installed(const std::string& binary = NspawnOptions{}.binary);

}  // namespace crt::runtime
