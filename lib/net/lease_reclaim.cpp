#include "net/lease_reclaim.hpp"

#include <optional>
#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "net/netns.hpp"
#include "net/plugin.hpp"
#include "net/plugin_rules.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;

namespace {

struct Lease {
  std::string container_id;
  std::string ifname;
};

std::optional<Lease> read_lease(const stdfs::path& file) {
  std::string text;
  try {
    text = fs::read_file(file);
  } catch (const Error&) {
    return std::nullopt;
  }
  std::istringstream in(text);
  Lease l;
  std::getline(in, l.container_id);
  std::getline(in, l.ifname);
  for (std::string* s : {&l.container_id, &l.ifname})
    while (!s->empty() && (s->back() == '\r' || s->back() == ' ')) s->pop_back();
  if (l.ifname.empty()) l.ifname = "eth0";
  return l;
}

}  // namespace

std::optional<stdfs::path> host_local_lease_dir(const NetworkConfig& net) {
  for (const auto& p : net.plugins) {
    auto ipam = p.find("ipam");
    if (ipam == p.end() || !ipam->is_object() || ipam->value("type", "") != "host-local") continue;
    std::string data_dir = ipam->value("dataDir", "/var/lib/cni/networks");
    return stdfs::path(data_dir) / net.name;
  }
  return std::nullopt;
}

int reclaim_dead_leases(const NetworkConfig& net, const std::vector<stdfs::path>& plugin_dirs) {
  auto dir = host_local_lease_dir(net);
  if (!dir) return 0;
  int released = 0;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(*dir, ec)) {
    std::string name = de.path().filename();
    if (name == "lock" || name.rfind("last_reserved_ip", 0) == 0) continue;
    auto lease = read_lease(de.path());
    if (!lease || lease->container_id.rfind("crt-", 0) != 0) continue;
    std::optional<NetNs> ns = open_netns(lease->container_id);
    if (ns && namespace_in_use(ns->fd.get())) continue;
    Invocation inv{lease->container_id, ns ? ns->proc_path() : "", lease->ifname, "", plugin_dirs};
    with_context("releasing the lease " + quote(de.path().string()) + " of a pod that is gone", [&] {
      del_network(net, inv, nlohmann::json::object(), nullptr);
      // Its port forwards too, which that DEL (without the pod's port
      // mappings) left: the address may go to a pod that forwards none.
      remove_rules_of(lease->container_id);
    });
    ++released;
  }
  return released;
}

}  // namespace crt::net
