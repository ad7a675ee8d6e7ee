#include "net/pod_etc.hpp"

#include "common/error.hpp"
#include "common/fs.hpp"
#include "net/dns.hpp"

namespace crt::net {

std::string hosts_file(const std::string& hostname, const std::string& pod_ip,
                       const std::vector<pod::HostsEntry>& extra, const std::string& host_hosts) {
  std::string out = host_hosts.empty() ? "127.0.0.1\tlocalhost\n"
                                         "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                       : host_hosts;
  if (out.back() != '\n') out += '\n';
  out += (pod_ip.empty() ? std::string("127.0.1.1") : pod_ip) + "\t" + hostname + "\n";
  for (const auto& e : extra) out += e.ip + "\t" + e.host + "\n";
  return out;
}

PodEtc write_pod_etc(const std::filesystem::path& etc_dir, const pod::PodManifest& m,
                     const std::vector<Result>& results) {
  auto cached = fs::Durability::kCached;
  fs::make_dirs(etc_dir);
  pod::NetSpec::Mode mode = pod::parse_net_spec(m.net).mode;
  PodResolv resolv = mode == pod::NetSpec::Mode::kNone
                         ? PodResolv{no_network_resolv_conf(m.dns), {}}
                         : pod_resolv_conf(m.dns, results, read_host_resolv(), mode == pod::NetSpec::Mode::kNetworks);
  fs::write_file_atomic(etc_dir / "resolv.conf", resolv.content, 0644, cached);
  fs::write_file_atomic(etc_dir / "hostname", m.hostname + "\n", 0644, cached);
  std::string ip;
  for (const auto& r : results) {
    ip = r.first_ip(false);
    if (ip.empty()) ip = r.first_ip(true);
    if (!ip.empty()) break;
  }
  std::string host_hosts;
  if (mode == pod::NetSpec::Mode::kHost) {
    try {
      host_hosts = fs::read_file("/etc/hosts");
    } catch (const Error&) {
      // None: the pod's own lines alone, as for a pod of its own network.
    }
  }
  return {hosts_file(m.hostname, ip, m.hosts_entries, host_hosts), resolv.warnings};
}

}  // namespace crt::net
