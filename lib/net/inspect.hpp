#pragma once

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "pod/manifest.hpp"

namespace crt::net {

/// Interfaces, addresses and routes inside a pod's network namespace, as
/// `ip -j address` and `ip -j route` print them there: {"addresses": …,
/// "routes": …}, the routes IPv4's, then IPv6's (`ip -j -6 route`) where
/// the pod has an IPv6 address beyond link-local ones, without the fe80::/64
/// route the kernel gives every interface. nullopt when the pod has no
/// namespace (any more).
std::optional<nlohmann::json> inspect_pod_network(const std::filesystem::path& pod_dir);

/// A pod's network for crt inspect: {"mode": "host" | "none" | "own",
/// "networks": [{name, ifname, ip4, ip6}], "ports": ports_json(),
/// "namespace": "/run/netns/…",
/// "addresses": …, "routes": …}, the last three while the namespace exists.
nlohmann::json describe_pod_network(const std::filesystem::path& pod_dir, const pod::PodManifest& m);

}  // namespace crt::net
