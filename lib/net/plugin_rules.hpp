#pragma once

// The iptables rules that CNI plugins (and crt's masquerading, see
// masquerade.hpp) leave in the host's tables, and what crt removes after
// them once a pod's network is gone.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/lock.hpp"
#include "common/subprocess.hpp"

namespace crt::net {

/// Serializes, across crt processes, the plugin runs that make or change
/// the chains all pods share (those of a network that forwards ports or
/// runs the firewall plugin, shares_host_chains()) with the removal of
/// portmap's shared chains below. Taken last of a pod network's locks
/// (their order: network_record.hpp).
FileLock lock_port_forwarding();

/// lock_port_forwarding() for a teardown that must not wait for ever: waits
/// `most` at most (FileLock::acquire_within(), telling `while_held` as it
/// says), then throws, naming the processes that hold it.
FileLock lock_port_forwarding_within(std::chrono::milliseconds most, const std::function<void()>& while_held = {});

/// The portmap plugin removes a pod's own rules on DEL but leaves the chains
/// all pods share (CNI-HOSTPORT-DNAT, -SETMARK, -MASQ and the jumps to them)
/// in the nat table for ever. When no port is forwarded any more, crt removes
/// them, so that a host whose pods are gone has none of their rules. Call with
/// lock_port_forwarding() held. Throws if iptables fails, or one of its runs
/// takes longer than `time_limit` (0: no limit).
void remove_unused_portmap_chains(const TimeLimit& time_limit = {});

/// The iptables-restore input that removes portmap's shared chains from a
/// nat table listed as `iptables -t nat -S` prints it (tables_as_listed()
/// gives that); "" while a pod still forwards a port, or when they are not
/// there.
std::string portmap_removal_script(const std::string& nat_rules);

/// The rules plugins tag with the pod's CNI container ID (ptp's and bridge's
/// masquerading, portmap's per-pod chains) are theirs to remove on DEL, but a
/// plugin skips that when the pod's interface is already gone (a pod killed
/// halfway through starting or stopping). After every DEL, crt removes what
/// is left of them: the tagged rules, and the chains only they jump to.
/// Throws if iptables fails, or one of its runs takes longer than
/// `time_limit` (0: no limit).
void remove_rules_of(const std::string& container_id, const TimeLimit& time_limit = {});

/// remove_rules_of() of the pod's port forwarding alone (its tagged jumps
/// from portmap's CNI-HOSTPORT-DNAT and the chains only they jump to, and
/// crt's [::1] refusal of its ports, see ipv6_loopback.hpp): what another
/// pod's start takes from a dead pod whose teardown, with its plugins' DEL,
/// is still to come (a DEL fails on finding its own rules gone). Each
/// iptables run may take `time_limit` (0: no limit), as for remove_rules_of().
void remove_port_forwards_of(const std::string& container_id,
                             std::chrono::milliseconds time_limit = std::chrono::milliseconds(0));

/// The comment crt's own rules carry (masquerade.hpp, ipv6_loopback.hpp),
/// as ptp tags its own: `"name: \"NETWORK\" id: \"CONTAINER_ID\""`, as
/// iptables-restore takes it. remove_rules_of() finds them by the ID.
std::string rule_comment(const std::string& network, const std::string& container_id);

/// Runs `tool` (iptables-restore or ip6tables-restore) -w --noflush with
/// `script` as its input. Throws "WHAT with TOOL: ERROR" if it fails, and
/// says so if it did not end within `time_limit` (0: no limit) and was
/// killed.
void run_iptables_restore(const char* tool, const std::string& script, const TimeLimit& time_limit,
                          const std::string& what);

/// The iptables-restore input for remove_rules_of() from a table listed as
/// `iptables -t TABLE -S` prints it; "" when nothing is tagged with the ID.
/// With `only_chains`, only the tagged rules of those chains go (and the
/// chains only they jump to).
std::string rules_of_removal_script(const std::string& table, const std::string& rules, const std::string& container_id,
                                    const std::vector<std::string>& only_chains = {});

/// A host port a pod forwards: `host_ip` "" for every address of the host.
struct HostPort {
  uint16_t port = 0;
  std::string protocol;  ///< tcp, udp
  std::string host_ip;
};

/// The CNI container IDs whose portmap rules, in a nat table listed as
/// `iptables -t nat -S` prints it, may forward host port `p`: the jumps
/// from CNI-HOSTPORT-DNAT tagged `id: "ID"` whose --dports has the port. By
/// ID: true where its chain forwards the port (DNAT) on an address `p`
/// takes too (every address, "", 0.0.0.0 or ::, takes every other of its
/// family); false where it has no DNAT rule of the port (portmap jumps in
/// each family the pod has an address of, and forwards only in the family
/// of the mapping's host address).
std::map<std::string, bool> port_forwarders(const std::string& nat_rules, const HostPort& p);

/// port_forwarders() of each port in the nat tables of its address family
/// as they are now (both for a port of every address), by ID: true where a
/// forward is certain to take the pod's traffic (a DNAT rule of the port,
/// in IPv4 or for an IPv6 address asked for), false otherwise (a jump with
/// no such rule, or only on IPv6 for a port of every address, which the
/// pod forwards there only once its network gives it an IPv6 address).
/// Throws if an iptables-save takes longer than `time_limit` (0: no limit):
/// it is killed.
std::map<std::string, bool> current_port_forwarders(
    const std::vector<HostPort>& ports, std::chrono::milliseconds time_limit = std::chrono::milliseconds(0));

/// The tables of `iptables-save` output, by name, each as `iptables -t TABLE
/// -S` would list it (policies, chains, then rules). One iptables-save lists
/// every table for the price of one `iptables -S`.
std::map<std::string, std::string> tables_as_listed(const std::string& saved);

}  // namespace crt::net
