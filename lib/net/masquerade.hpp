#pragma once

#include <chrono>
#include <string>

#include "common/subprocess.hpp"
#include "net/result.hpp"

namespace crt::net {

/// The rules that masquerade a pod's traffic leaving its network, as ptp's
/// `ipMasq` makes them: for each address in `r`, a chain of the pod's own
/// (its network's own addresses ACCEPT, all but multicast MASQUERADE) that
/// POSTROUTING sends the address's packets to; and, first in FORWARD, ACCEPT
/// of what the address sends and of the replies and host-port forwards it
/// gets, for hosts whose FORWARD policy is DROP. Tagged as ptp tags its rules
/// (`name: "NETWORK" id: "CONTAINER_ID"`), so that remove_rules_of() takes
/// them away with the pod's network.
///
/// ptp runs iptables eight times for that, one process each, while the pod
/// waits; crt needs one iptables-restore per address family.
struct MasqueradeScripts {
  std::string v4;  ///< iptables-restore --noflush input; "" without IPv4 addresses
  std::string v6;  ///< ip6tables-restore input; "" without IPv6 addresses
};
MasqueradeScripts masquerade_scripts(const std::string& network, const std::string& container_id, const Result& r);

/// Adds the rules of masquerade_scripts(). Throws if iptables-restore fails,
/// or takes longer than `time_limit` (0: no limit): it is killed.
void masquerade(const std::string& network, const std::string& container_id, const Result& r,
                std::chrono::milliseconds time_limit = std::chrono::milliseconds(0));

/// What takes the rules of masquerade_scripts() away again: the POSTROUTING
/// rules, then the chain.
MasqueradeScripts unmasquerade_scripts(const std::string& network, const std::string& container_id, const Result& r);

/// Removes the rules of masquerade_scripts(); false if iptables-restore
/// failed (some of them were gone already: remove_rules_of() takes what is
/// left). iptables and the kernel take about as long for it as ptp's DEL:
/// it can run while that does. An iptables-restore that takes longer than
/// `time_limit` (0: no limit) is killed, and fails.
bool unmasquerade(const std::string& network, const std::string& container_id, const Result& r,
                  const TimeLimit& time_limit = {});

}  // namespace crt::net
