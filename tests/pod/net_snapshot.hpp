#pragma once

#include <string>
#include <vector>

namespace crt::test {

/// What of the host's network a pod could leave behind, as a user would look
/// at it: `ip link` names, `ip netns` names, the iptables and ip6tables
/// rules (iptables-save without comments and counters; a table holding
/// nothing but its empty built-in chains counts as absent), the nftables
/// ruleset (`nft list ruleset` without counters and the like, the same way),
/// and the lease files of the CNI IPAM data directory with their content.
struct NetSnapshot {
  std::vector<std::string> links;
  std::vector<std::string> netns;
  std::vector<std::string> rules;
  std::vector<std::string> nft;
  std::vector<std::string> leases;

  /// Throws std::runtime_error when a tool it needs fails (nft missing).
  static NetSnapshot take();
  /// Lines that differ, "+ added" and "- removed", per part; empty if equal.
  [[nodiscard]] std::string diff(const NetSnapshot& after) const;
  /// Every line of every part that mentions `needle`.
  [[nodiscard]] std::vector<std::string> mentioning(const std::string& needle) const;
};

/// Where host-local keeps its leases unless a network says otherwise.
inline constexpr const char* kIpamDir = "/var/lib/cni/networks";

}  // namespace crt::test
