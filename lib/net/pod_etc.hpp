#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "net/result.hpp"
#include "pod/manifest.hpp"

namespace crt::net {

/// The /etc/hosts apps see: localhost, the pod's host name on its address
/// (127.0.1.1 without a network of its own) and --hosts-entry lines. A pod
/// of the host's network gets the host's /etc/hosts (`host_hosts`, its
/// localhost lines included) instead of the localhost lines, as docker's
/// and podman's do: the names the host resolves there are the pod's too.
std::string hosts_file(const std::string& hostname, const std::string& pod_ip,
                       const std::vector<pod::HostsEntry>& extra, const std::string& host_hosts = "");

struct PodEtc {
  std::string hosts;                  ///< what apps see as /etc/hosts
  std::vector<std::string> warnings;  ///< for the user
};

/// Writes the files apps see as /etc/resolv.conf and /etc/hostname into
/// `etc_dir` (which prepare-app binds into each app), and returns their
/// /etc/hosts: the caller writes it (mount::kPodEtcLastFile) when the apps
/// may start, since prepare-app waits for it.
PodEtc write_pod_etc(const std::filesystem::path& etc_dir, const pod::PodManifest& m,
                     const std::vector<Result>& results);

}  // namespace crt::net
