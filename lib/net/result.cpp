#include "net/result.hpp"

#include "common/error.hpp"

namespace crt::net {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& s : *it)
    if (s.is_string()) out.push_back(s);
  return out;
}

void add_routes(const json& j, Result& r) {
  auto it = j.find("routes");
  if (it == j.end() || !it->is_array()) return;
  for (const auto& route : *it)
    if (route.is_object()) r.routes.push_back({str(route, "dst"), str(route, "gw")});
}

/// 0.1.0 and 0.2.0: {"ip4": {"ip", "gateway", "routes"}, "ip6": …}.
void parse_legacy(const json& j, Result& r) {
  for (const char* key : {"ip4", "ip6"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_object()) continue;
    r.ips.push_back({str(*it, "ip"), str(*it, "gateway"), -1});
    add_routes(*it, r);
  }
}

}  // namespace

Result::Families Result::families() const {
  Families f;
  // One that is no address (a plugin's bug) is of neither.
  for (const auto& ip : ips) {
    IpFamily family = ip_family(ip.ip());
    if (family != IpFamily::kNone) (family == IpFamily::kV6 ? f.v6 : f.v4) = true;
  }
  return f;
}

std::string Result::first_ip(bool v6) const {
  for (const auto& ip : ips)
    if (ip.v6() == v6) return ip.ip();
  return {};
}

std::vector<std::string> Result::host_interfaces() const {
  std::vector<std::string> out;
  for (const auto& i : interfaces)
    if (i.sandbox.empty() && !i.name.empty()) out.push_back(i.name);
  return out;
}

Result parse_result(const json& j) {
  if (!j.is_object()) throw Error("the plugin's result is not a JSON object");
  Result r;
  if (j.contains("ip4") || j.contains("ip6")) {
    parse_legacy(j, r);
  } else {
    if (auto it = j.find("interfaces"); it != j.end() && it->is_array())
      for (const auto& i : *it)
        if (i.is_object()) r.interfaces.push_back({str(i, "name"), str(i, "mac"), str(i, "sandbox")});
    if (auto it = j.find("ips"); it != j.end() && it->is_array()) {
      for (const auto& ip : *it) {
        if (!ip.is_object()) continue;
        int index = ip.contains("interface") && ip["interface"].is_number_integer() ? ip["interface"].get<int>() : -1;
        r.ips.push_back({str(ip, "address"), str(ip, "gateway"), index});
      }
    }
    add_routes(j, r);
  }
  if (auto it = j.find("dns"); it != j.end() && it->is_object()) {
    r.nameservers = strings(*it, "nameservers");
    r.domain = str(*it, "domain");
    r.search = strings(*it, "search");
    r.options = strings(*it, "options");
  }
  return r;
}

}  // namespace crt::net
