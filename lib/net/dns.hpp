#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/result.hpp"
#include "pod/net_options.hpp"

namespace crt::net {

/// The settings of a resolv.conf file.
struct ResolvConf {
  std::vector<std::string> nameservers;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

/// Parses resolv.conf text (nameserver, search, domain, options lines).
ResolvConf parse_resolv_conf(const std::string& text);

/// Renders resolv.conf, saying where it came from in a comment.
std::string render_resolv_conf(const ResolvConf& rc, const std::string& origin);

/// The host's resolver files as read for a pod.
struct HostResolv {
  std::string resolv_conf;    ///< /etc/resolv.conf
  std::string resolved_conf;  ///< /run/systemd/resolve/resolv.conf (systemd-resolved's upstream servers), or empty
};

/// Reads them from the host.
HostResolv read_host_resolv();

/// The resolv.conf apps see, and warnings about what was dropped.
struct PodResolv {
  std::string content;
  std::vector<std::string> warnings;
};

/// Nameservers from --dns, else from the CNI results, else from the host's
/// resolv.conf; search domains and options from --dns-search / --dns-opt,
/// else from the same source. In a pod with its own network a nameserver of
/// the host's that unreachable_from_pod() names cannot be reached: the
/// systemd-resolved upstream list is preferred to its local stub, and what
/// remains of them is dropped with a warning.
PodResolv pod_resolv_conf(const pod::DnsConfig& flags, const std::vector<Result>& results, const HostResolv& host,
                          bool private_network);

/// The resolv.conf of a pod without a network (--net=none): what --dns,
/// --dns-search and --dns-opt give, and nothing of the host's. The pod can
/// reach no nameserver, and the host's servers and search domains are the
/// host's own business (podman and docker give such a container the host's
/// all the same; systemd-nspawn gives a container of a private network
/// none).
std::string no_network_resolv_conf(const pod::DnsConfig& flags);

/// Whether `ip` is a loopback address: 127.0.0.0/8, ::1 (however written)
/// or 127.0.0.0/8 as an IPv4-mapped IPv6 address.
bool is_loopback(const std::string& ip);

/// Why a nameserver of the host's resolv.conf cannot be reached from a pod
/// with a network of its own ("is on its loopback", "is link-local, …"), or
/// nothing if it can: one on the host's loopback, or an IPv6 link-local one
/// (fe80::/10, with a zone such as fe80::1%eth0 or without).
std::optional<std::string> unreachable_from_pod(const std::string& nameserver);

}  // namespace crt::net
