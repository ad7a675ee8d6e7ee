#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "net/result.hpp"
#include "pod/manifest.hpp"

namespace crt::net {

/// The /etc/hosts apps see: localhost, the pod's host name on its address
/// (127.0.1.1 without a network of its own) and --hosts-entry lines.
std::string hosts_file(const std::string& hostname, const std::string& pod_ip,
                       const std::vector<pod::HostsEntry>& extra);

/// Writes the files apps see as /etc/resolv.conf, /etc/hostname and
/// /etc/hosts into `etc_dir` (the pod directory's etc/, which prepare-app
/// binds into each app). hosts comes last: prepare-app waits for it.
/// Returns warnings for the user.
std::vector<std::string> write_pod_etc(const std::filesystem::path& etc_dir, const pod::PodManifest& m,
                                       const std::vector<Result>& results);

}  // namespace crt::net
