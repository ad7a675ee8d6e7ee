#include "net/pod_network.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "common/lock.hpp"
#include "net/config.hpp"
#include "net/lease_reclaim.hpp"
#include "net/masquerade.hpp"
#include "net/plugin.hpp"
#include "net/plugin_rules.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

json port_mappings(const std::vector<pod::PortMapping>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    json m = {{"hostPort", p.host_port}, {"containerPort", p.pod_port}, {"protocol", p.protocol}};
    if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
    out.push_back(m);
  }
  return out;
}

/// portmap does nothing for a pod that forwards no port but costs a plugin
/// run on each start and stop; such a pod's networks go without it.
NetworkConfig without_idle_portmap(NetworkConfig c) {
  json kept = json::array();
  for (const auto& p : c.plugins)
    if (p.value("type", "") != "portmap") kept.push_back(p);
  if (!kept.empty()) c.plugins = std::move(kept);
  return c;
}

bool forwards_ports(const Attachment& a) {
  auto it = a.runtime_config.find("portMappings");
  return it != a.runtime_config.end() && !it->empty();
}

Invocation invocation(const NetworkState& s, const Attachment& a, const std::string& netns_path) {
  return {s.container_id, netns_path, a.ifname, a.args, s.plugin_dirs};
}

/// DEL of every attachment in reverse order; the namespace goes only when
/// all succeeded, so that a retry can still reach what is inside it.
void teardown_state(const stdfs::path& pod_dir, NetworkState& s, const std::optional<NetNs>& ns) {
  if (s.torn_down) return;
  std::string netns_path = ns ? ns->proc_path() : std::string();
  std::string first_error;
  bool ports = false;
  for (auto it = s.attachments.rbegin(); it != s.attachments.rend(); ++it) {
    if (!it->attempted) continue;
    try {
      FileLock lock;
      if (forwards_ports(*it)) {
        ports = true;
        lock = lock_port_forwarding();
      }
      with_context("tearing down network " + quote(it->config.name), [&] {
        del_network(it->config, invocation(s, *it, netns_path), it->runtime_config, it->result);
      });
    } catch (const Error& e) {
      // A network whose ADD failed was set up by nothing that a DEL with the
      // same configuration could reach better; it must not keep the rest.
      if (first_error.empty() && !it->result.is_null()) first_error = e.what();
    }
  }
  if (ports) {
    try {
      FileLock lock = lock_port_forwarding();
      remove_unused_portmap_chains();
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (first_error.empty()) {
    try {
      remove_rules_of(s.container_id);
    } catch (const Error& e) {
      first_error = e.what();
    }
  }
  if (!first_error.empty()) throw Error(first_error);
  remove_netns(s.netns);
  s.torn_down = true;
  write_state(pod_dir, s);
}

}  // namespace

PodNetwork PodNetwork::create(const stdfs::path& pod_dir, const pod::PodManifest& m, const NetworkContext& ctx) {
  PodNetwork net(pod_dir, ctx);
  pod::NetSpec spec = pod::parse_net_spec(m.net);
  if (!spec.cni()) {
    net.done_ = true;
    return net;
  }
  stdfs::path dir = ctx.config_dir / "net.d";
  std::vector<NetworkConfig> configs = select_networks(spec, load_networks(dir), dir);
  NetworkState s;
  s.container_id = "crt-" + m.uuid;
  s.netns = s.container_id;
  s.plugin_dirs = plugin_dirs(ctx.config_dir);
  bool ports_placed = m.ports.empty();
  for (size_t i = 0; i < configs.size(); ++i) {
    Attachment a;
    a.config = m.ports.empty() ? without_idle_portmap(configs[i]) : configs[i];
    a.ifname = "eth" + std::to_string(i);
    if (!spec.all) a.args = spec.networks[i].args;
    // Ports are forwarded once, to the first network that can.
    bool can = std::any_of(a.config.plugins.begin(), a.config.plugins.end(),
                           [](const json& p) { return has_capability(p, "portMappings"); });
    if (!ports_placed && can) {
      a.runtime_config["portMappings"] = port_mappings(m.ports);
      ports_placed = true;
    }
    s.attachments.push_back(std::move(a));
  }
  if (!ports_placed)
    throw Error("--port: none of the pod's networks has a plugin with the portMappings capability (such as portmap)");
  write_state(pod_dir, s);
  net.state_ = std::move(s);
  net.netns_ = create_netns(net.state_->netns);
  net.trace("created network namespace " + net.netns_->path().string());
  return net;
}

PodNetwork::~PodNetwork() {
  if (done_ || !state_) return;
  try {
    teardown();
  } catch (const Error& e) {
    tell(ctx_.messages, std::string("warning: ") + e.what());
  }
}

void PodNetwork::attach() {
  if (!state_) return;
  NetworkState& s = *state_;
  for (auto& a : s.attachments) {
    with_context("setting up network " + quote(a.config.name), [&] {
      Invocation inv = invocation(s, a, netns_->proc_path());
      FileLock lock;
      if (forwards_ports(a)) lock = lock_port_forwarding();
      a.attempted = true;
      write_state(pod_dir_, s);
      try {
        a.result = add_network(a.config, inv, a.runtime_config);
      } catch (const Error&) {
        // The subnet may be full of leases of pods nobody cleaned up.
        int released = reclaim_dead_leases(a.config, s.plugin_dirs);
        if (released == 0) throw;
        trace("released " + std::to_string(released) + " lease(s) of pods that are gone; trying again");
        try {
          del_network(a.config, inv, a.runtime_config, nullptr);
        } catch (const Error&) {
        }
        a.result = add_network(a.config, inv, a.runtime_config);
      }
      write_state(pod_dir_, s);
      if (crt_masquerades(a.config)) masquerade(a.config.name, s.container_id, parse_result(a.result));
    });
    std::string addrs;
    for (const auto& ip : parse_result(a.result).ips) addrs += " " + ip.address;
    trace("attached network " + quote(a.config.name) + " as " + a.ifname + ":" + addrs);
  }
}

std::vector<Result> PodNetwork::results() const {
  std::vector<Result> out;
  if (!state_) return out;
  for (const auto& a : state_->attachments)
    if (!a.result.is_null()) out.push_back(parse_result(a.result));
  return out;
}

void PodNetwork::teardown() {
  if (done_ || !state_) return;
  done_ = true;  // once: a failure is left to teardown_pod_network()
  teardown_state(pod_dir_, *state_, netns_);
  netns_.reset();
  done_ = true;
  trace("tore down the pod's network");
}

void teardown_pod_network(const stdfs::path& pod_dir) {
  std::optional<NetworkState> s = read_state(pod_dir);
  if (!s || s->torn_down) return;
  with_context("tearing down the network of pod " + quote(pod_dir.filename().string()), [&] {
    teardown_state(pod_dir, *s, open_netns(s->netns));
  });
}

}  // namespace crt::net
