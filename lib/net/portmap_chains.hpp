#pragma once

#include <string>

#include "common/lock.hpp"

namespace crt::net {

/// Serializes, across crt processes, the plugin runs that forward ports with
/// the removal of portmap's shared chains below.
FileLock lock_port_forwarding();

/// The portmap plugin removes a pod's own rules on DEL but leaves the chains
/// all pods share (CNI-HOSTPORT-DNAT, -SETMARK, -MASQ and the jumps to them)
/// in the nat table for ever. When no port is forwarded any more, crt removes
/// them, so that a host whose pods are gone has none of their rules. Call with
/// lock_port_forwarding() held. Throws if iptables fails.
void remove_unused_portmap_chains();

/// The iptables-restore input that removes portmap's shared chains from a
/// nat table listed as `iptables -t nat -S` prints it; "" while a pod still
/// forwards a port, or when they are not there.
std::string portmap_removal_script(const std::string& nat_rules);

}  // namespace crt::net
