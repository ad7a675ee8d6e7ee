#include "net/inspect.hpp"

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "common/subprocess.hpp"
#include "net/netns.hpp"
#include "net/state.hpp"

namespace crt::net {

using nlohmann::json;

std::optional<json> inspect_pod_network(const std::filesystem::path& pod_dir) {
  std::optional<NetworkState> s = read_state(pod_dir);
  if (!s || s->torn_down) return std::nullopt;
  std::optional<NetNs> ns = open_netns(s->netns);
  if (!ns) return std::nullopt;
  json out;
  for (const auto& [key, what] : {std::pair{"addresses", "address"}, std::pair{"routes", "route"}}) {
    // ip from inside the namespace: nsenter joins it through this process's fd.
    ProgramResult r = run_program({"nsenter", "--net=" + ns->proc_path(), "ip", "-j", what, "show"},
                                  current_environment());
    if (r.status != 0) throw Error(std::string("reading the pod's ") + key + ": " + r.err);
    try {
      out[key] = json_text::parse(r.out);
    } catch (const json::exception& e) {
      throw Error(std::string("reading the pod's ") + key + ": " + e.what());
    }
  }
  return out;
}

json describe_pod_network(const std::filesystem::path& pod_dir, const pod::PodManifest& m) {
  json out;
  pod::NetSpec spec = pod::parse_net_spec(m.net);
  out["mode"] = spec.mode == pod::NetSpec::Mode::kHost ? "host" : spec.mode == pod::NetSpec::Mode::kNone ? "none" : "own";
  out["networks"] = json::array();
  // What cannot be read of it (a net.json cut short by a crash, a namespace
  // ip cannot list) is said there; the rest of the pod is shown all the same.
  try {
    std::optional<NetworkState> s = read_state(pod_dir);
    if (!s) return out;
    for (const auto& n : summarize(*s))
      out["networks"].push_back({{"name", n.name}, {"ifname", n.ifname}, {"ip4", n.ip4}, {"ip6", n.ip6}});
    if (auto inside = inspect_pod_network(pod_dir)) {
      out["namespace"] = (std::filesystem::path(kNetnsDir) / s->netns).string();
      out["addresses"] = (*inside)["addresses"];
      out["routes"] = (*inside)["routes"];
    }
  } catch (const Error& e) {
    out["error"] = e.what();
  }
  return out;
}

}  // namespace crt::net
