#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <unordered_set>

#include "common/fd.hpp"

namespace crt::net {

/// Where named network namespaces live: iproute2's place, so `ip netns`
/// lists a pod's and `ip netns exec` enters it.
inline constexpr const char* kNetnsDir = "/run/netns";

/// A network namespace kept alive by a bind mount on /run/netns/NAME in the
/// host's mount namespace, and held open by this process.
struct NetNs {
  std::string name;
  UniqueFd fd;

  [[nodiscard]] std::filesystem::path path() const { return std::filesystem::path(kNetnsDir) / name; }
  /// A path naming the namespace for this process's children (plugins,
  /// nspawn) whatever mounts their mount namespace shows.
  [[nodiscard]] std::string proc_path() const;
};

/// Creates network namespace NAME (with only a loopback interface, down) and
/// bind-mounts it on /run/netns/NAME in the host's mount namespace, made a
/// shared mount point as iproute2 does so that unmounting it reaches every
/// copy. Throws if NAME exists.
NetNs create_netns(const std::string& name);

/// Opens /run/netns/NAME as the host sees it; nullopt unless a network
/// namespace is mounted there (a leftover file after a reboot is not one).
std::optional<NetNs> open_netns(const std::string& name);

/// The network namespaces (their inode numbers) that a process other than
/// this one is in or holds open, however it opened them (through /proc or
/// through their /run/netns path): one scan of /proc, for any number.
std::unordered_set<ino_t> namespaces_in_use();

/// Whether a process other than this one is in the namespace `ns_fd` refers
/// to, or holds it open (namespaces_in_use()).
bool namespace_in_use(int ns_fd);

/// Unmounts and removes /run/netns/NAME in the host's mount namespace; fine
/// if it is not there. The namespace ends when nothing else holds it.
void remove_netns(const std::string& name);

}  // namespace crt::net
