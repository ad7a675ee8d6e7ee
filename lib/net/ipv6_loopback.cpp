#include "net/ipv6_loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/subprocess.hpp"
#include "net/plugin_rules.hpp"
#include "net/state.hpp"

namespace crt::net {

namespace {

/// Whether `ip` is IPv6's every address ("::", "0::0").
bool ipv6_any(const std::string& ip) {
  in6_addr a{};
  return ::inet_pton(AF_INET6, ip.c_str(), &a) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a);
}

}  // namespace

std::string ipv6_loopback_script(const std::string& network, const std::string& container_id,
                                 const std::vector<pod::PortMapping>& mappings, Result::Families f) {
  std::string rules;
  for (const auto& m : mappings)
    for (const auto& ip : forwarded_host_ips(m.host_ip, f))
      if (ipv6_any(ip))
        rules += "-I OUTPUT -d ::1/128 -p " + m.protocol + " -m " + m.protocol + " --dport " +
                 std::to_string(m.host_port) + " -m comment --comment " + rule_comment(network, container_id) +
                 " -j RETURN\n";
  return rules.empty() ? rules : "*nat\n" + rules + "COMMIT\n";
}

void keep_ipv6_loopback_unforwarded(const std::string& network, const std::string& container_id,
                                    const std::vector<pod::PortMapping>& mappings, Result::Families f,
                                    std::chrono::milliseconds time_limit) {
  std::string script = ipv6_loopback_script(network, container_id, mappings, f);
  if (script.empty()) return;
  run_iptables_restore("ip6tables-restore", script, time_limit, "keeping [::1] out of portmap's forwarding");
}

}  // namespace crt::net
