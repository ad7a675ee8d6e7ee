#include "pod/net_flags.hpp"

#include "common/error.hpp"

namespace crt::pod {

void validate_net_flags(const PodFlags& flags) {
  NetSpec spec = parse_net_spec(flags.net);
  for (const auto& p : flags.ports) parse_port_spec(p);
  if (!flags.ports.empty() && !spec.cni())
    throw Error("--port forwards to the pod's own network; there is none with --net=" + flags.net);
  make_dns_config(flags.dns, flags.dns_search, flags.dns_opt);
  for (const auto& h : flags.hosts_entries) parse_hosts_entry(h);
}

void apply_net_flags(PodManifest& m, const PodFlags& flags, const std::vector<std::string>& exposed_ports) {
  validate_net_flags(flags);
  m.net = flags.net;
  m.ports.clear();
  for (const auto& p : flags.ports) m.ports.push_back(resolve_port(parse_port_spec(p), exposed_ports));
  check_ports_unique(m.ports);
  m.dns = make_dns_config(flags.dns, flags.dns_search, flags.dns_opt);
  m.hosts_entries.clear();
  for (const auto& h : flags.hosts_entries) m.hosts_entries.push_back(parse_hosts_entry(h));
}

}  // namespace crt::pod
