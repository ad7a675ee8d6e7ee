#include "net/inspect.hpp"

#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "common/subprocess.hpp"
#include "net/netns.hpp"
#include "net/state.hpp"

namespace crt::net {

using nlohmann::json;

namespace {

/// `ip -j ARGS` inside the namespace `ns`, parsed; `what` names it in errors.
json ip_inside(const NetNs& ns, const std::vector<std::string>& args, const std::string& what) {
  // ip from inside the namespace: nsenter joins it through this process's fd.
  std::vector<std::string> argv = {"nsenter", "--net=" + ns.proc_path(), "ip", "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProgramResult r = run_program(argv, current_environment());
  if (r.status != 0) throw Error("reading the pod's " + what + ": " + r.err);
  try {
    return json_text::parse(r.out);
  } catch (const json::exception& e) {
    throw Error("reading the pod's " + what + ": " + e.what());
  }
}

/// Whether the interfaces of `ip -j address` have an IPv6 address beyond
/// the link-local ones every interface gets.
bool has_routable_ipv6(const json& addresses) {
  for (const auto& i : addresses)
    for (const auto& a : i.value("addr_info", json::array()))
      if (a.value("family", "") == "inet6" && a.value("scope", "") != "link" && a.value("scope", "") != "host")
        return true;
  return false;
}

}  // namespace

std::optional<json> inspect_pod_network(const std::filesystem::path& pod_dir) {
  std::optional<NetworkState> s = read_state(pod_dir);
  if (!s || s->torn_down) return std::nullopt;
  std::optional<NetNs> ns = open_netns(s->netns);
  if (!ns) return std::nullopt;
  json out;
  out["addresses"] = ip_inside(*ns, {"address", "show"}, "addresses");
  out["routes"] = ip_inside(*ns, {"route", "show"}, "routes");
  if (!out["routes"].is_array()) out["routes"] = json::array();
  if (has_routable_ipv6(out["addresses"]))
    for (auto& r : ip_inside(*ns, {"-6", "route", "show"}, "IPv6 routes")) {
      // fe80::/64 on each interface and the loopback's are the kernel's,
      // the same in every pod.
      std::string dst = r.value("dst", "");
      if (dst.rfind("fe80:", 0) == 0 || dst == "::1" || r.value("dev", "") == "lo") continue;
      out["routes"].push_back(std::move(r));
    }
  return out;
}

json describe_pod_network(const std::filesystem::path& pod_dir, const pod::PodManifest& m) {
  json out;
  pod::NetSpec spec = pod::parse_net_spec(m.net);
  out["mode"] = spec.mode == pod::NetSpec::Mode::kHost ? "host" : spec.mode == pod::NetSpec::Mode::kNone ? "none" : "own";
  out["networks"] = json::array();
  out["ports"] = json::array();
  // What cannot be read of it (a net.json cut short by a crash, a namespace
  // ip cannot list) is said there; the rest of the pod is shown all the same.
  try {
    std::optional<NetworkState> s = read_state(pod_dir);
    if (!s) return out;
    for (const auto& n : summarize(*s))
      out["networks"].push_back(
          {{"name", n.name}, {"ifname", n.ifname}, {"ip4", n.ip4}, {"ip6", n.ip6}, {"released", n.released}});
    out["ports"] = ports_json(published_ports(*s));
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
