#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "net/result.hpp"
#include "pod/net_options.hpp"

namespace crt::net {

/// portmap forwards a port of every IPv6 address on `::1` too, where the
/// kernel drops what it forwards to the pod (IPv6 has no route_localnet):
/// a client of `[::1]:PORT` would wait until it gave up. crt's rules, first
/// in ip6tables' nat OUTPUT, keep `::1` out of that forwarding, so that a
/// connection meets the socket that holds the port (reserve_host_port())
/// and is refused at once. One rule per port of `mappings` (as portmap was
/// given them) that is forwarded on "::" to a pod with addresses of `f`
/// (forwarded_host_ips()); tagged as ptp tags its rules (`name: "NETWORK"
/// id: "CONTAINER_ID"`), so that remove_rules_of() takes them away with the
/// pod's network, and remove_port_forwards_of() with its forwards (another
/// pod's start, on a pod that is gone). The ip6tables-restore --noflush
/// input; "" for no such port.
std::string ipv6_loopback_script(const std::string& network, const std::string& container_id,
                                 const std::vector<pod::PortMapping>& mappings, Result::Families f);

/// Adds the rules of ipv6_loopback_script(), if any. Throws if
/// ip6tables-restore fails, or takes longer than `time_limit` (0: no limit).
void keep_ipv6_loopback_unforwarded(const std::string& network, const std::string& container_id,
                                    const std::vector<pod::PortMapping>& mappings, Result::Families f,
                                    std::chrono::milliseconds time_limit = std::chrono::milliseconds(0));

}  // namespace crt::net
