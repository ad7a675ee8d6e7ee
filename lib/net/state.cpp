#include "net/state.hpp"

#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/ip_address.hpp"
#include "common/json_text.hpp"
#include "net/result.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

json to_json(const NetworkState& s) {
  json atts = json::array();
  for (const auto& a : s.attachments) {
    atts.push_back({{"name", a.config.name},
                    {"cni_version", a.config.cni_version},
                    {"plugins", a.config.plugins},
                    {"source", a.config.source},
                    {"ifname", a.ifname},
                    {"args", a.args},
                    {"runtime_config", a.runtime_config},
                    {"result", a.result},
                    {"attempted", a.attempted}});
    if (!a.add_error_unnoted) atts.back()["add_error"] = a.add_error;
  }
  std::vector<std::string> dirs;
  for (const auto& d : s.plugin_dirs) dirs.push_back(d.string());
  return {{"container_id", s.container_id}, {"netns", s.netns},         {"plugin_dirs", dirs},
          {"attachments", atts},            {"torn_down", s.torn_down}};
}

NetworkState from_json(const json& j) {
  NetworkState s;
  j.at("container_id").get_to(s.container_id);
  j.at("netns").get_to(s.netns);
  for (const auto& d : j.at("plugin_dirs")) s.plugin_dirs.emplace_back(d.get<std::string>());
  for (const auto& a : j.at("attachments")) {
    Attachment at;
    a.at("name").get_to(at.config.name);
    a.at("cni_version").get_to(at.config.cni_version);
    at.config.plugins = a.at("plugins");
    a.at("source").get_to(at.config.source);
    a.at("ifname").get_to(at.ifname);
    a.at("args").get_to(at.args);
    at.runtime_config = a.at("runtime_config");
    at.result = a.at("result");
    a.at("attempted").get_to(at.attempted);
    at.add_error = a.value("add_error", "");
    at.add_error_unnoted = !a.contains("add_error");
    s.attachments.push_back(std::move(at));
  }
  j.at("torn_down").get_to(s.torn_down);
  return s;
}

}  // namespace

stdfs::path state_file(const stdfs::path& pod_dir) { return pod_dir / "net.json"; }

std::optional<NetworkState> read_state(const stdfs::path& pod_dir) {
  stdfs::path file = state_file(pod_dir);
  std::error_code ec;
  if (!stdfs::exists(file, ec)) return std::nullopt;
  try {
    return from_json(json_text::parse(fs::read_file(file)));
  } catch (const json::exception& e) {
    throw Error("reading " + quote(file.string()) + ": " + e.what());
  }
}

void write_state(const stdfs::path& pod_dir, const NetworkState& state) {
  fs::write_file_atomic(state_file(pod_dir), json_text::dump(to_json(state), 2) + "\n", 0644, fs::Durability::kCached);
}

std::vector<NetworkSummary> summarize(const NetworkState& state) {
  std::vector<NetworkSummary> out;
  for (const auto& a : state.attachments) {
    if (a.result.is_null()) continue;
    try {
      Result r = parse_result(a.result);
      out.push_back({a.config.name, a.ifname, r.first_ip(false), r.first_ip(true), state.torn_down});
    } catch (const Error&) {
      out.push_back({a.config.name, a.ifname, "", "", state.torn_down});
    }
  }
  return out;
}

std::string summary_string(const std::vector<NetworkSummary>& nets) {
  std::string out;
  for (const auto& n : nets) {
    if (!out.empty()) out += ",";
    out += n.name;
    if (!n.ip4.empty()) out += ":ip4=" + n.ip4;
    if (!n.ip6.empty()) out += ":ip6=" + n.ip6;
    if (n.released) out += ":released";
  }
  return out;
}

std::vector<pod::PortMapping> port_mappings_of(const Attachment& a) {
  std::vector<pod::PortMapping> out;
  auto mappings = a.runtime_config.find("portMappings");
  if (mappings == a.runtime_config.end() || !mappings->is_array()) return out;
  for (const auto& m : *mappings)
    out.push_back({m.value("hostIP", ""), m.value("hostPort", uint16_t{0}), m.value("containerPort", uint16_t{0}),
                   m.value("protocol", std::string("tcp"))});
  return out;
}

std::vector<std::string> forwarded_host_ips(const std::string& host_ip, Result::Families f) {
  if (!host_ip.empty()) return {host_ip};
  std::vector<std::string> out;
  if (f.v4) out.emplace_back("0.0.0.0");
  if (f.v6) out.emplace_back("::");
  return out;
}

std::vector<PublishedPort> published_ports(const NetworkState& state) {
  std::vector<PublishedPort> out;
  for (const auto& a : state.attachments) {
    if (a.result.is_null()) continue;
    Result::Families f;
    try {
      f = parse_result(a.result).families();
    } catch (const Error&) {
      continue;  // not a result portmap could have forwarded to
    }
    for (const auto& m : port_mappings_of(a))
      for (const auto& ip : forwarded_host_ips(m.host_ip, f))
        out.push_back({a.config.name, ip, m.host_port, m.pod_port, m.protocol, state.torn_down});
  }
  return out;
}

std::string port_string(const PublishedPort& p) {
  bool v6 = is_ipv6(p.host_ip);
  return (v6 ? "[" + p.host_ip + "]" : p.host_ip) + ":" + std::to_string(p.host_port) + "->" +
         std::to_string(p.pod_port) + "/" + p.protocol;
}

std::string ports_string(const std::vector<PublishedPort>& ports) {
  std::string out;
  for (const auto& p : ports) out += (out.empty() ? "" : ",") + port_string(p) + (p.released ? ":released" : "");
  return out;
}

json ports_json(const std::vector<PublishedPort>& ports) {
  json out = json::array();
  for (const auto& p : ports)
    out.push_back({{"network", p.network},
                   {"host_ip", p.host_ip},
                   {"host_port", p.host_port},
                   {"pod_port", p.pod_port},
                   {"protocol", p.protocol},
                   {"released", p.released}});
  return out;
}

}  // namespace crt::net
