#include "pod/net_options.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/error.hpp"
#include "common/ip_address.hpp"
#include "common/strings.hpp"

namespace crt::pod {

namespace {

bool valid_network_name(const std::string& n) {
  if (n.empty() || n.size() > 64 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool is_word(const std::string& s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c));
  });
}

bool is_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<uint16_t> port_number(const std::string& s) {
  unsigned v = 0;
  if (!is_digits(s) || s.size() > 5) return std::nullopt;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

/// Splits on ':' outside of [brackets] (IPv6 host addresses).
std::vector<std::string> split_port_fields(const std::string& s) {
  std::vector<std::string> out(1);
  bool bracket = false;
  for (char c : s) {
    if (c == '[') bracket = true;
    if (c == ']') bracket = false;
    if (c == ':' && !bracket)
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

/// "1.2.3.4" or "[::1]" -> the address; nullopt if it is neither.
std::optional<std::string> host_ip_field(const std::string& f) {
  std::string ip = f;
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') {
    ip = ip.substr(1, ip.size() - 2);
    if (ip.find(':') == std::string::npos) return std::nullopt;
  } else if (ip.find(':') != std::string::npos) {
    return std::nullopt;
  }
  if (!is_ip_address(ip)) return std::nullopt;
  return ip;
}

/// Why --port cannot forward from host address `ip`, or nothing: an IPv6
/// link-local address (fe80::/10) means nothing without an interface, which
/// --port has no place for; IPv6's loopback is not forwarded.
std::optional<std::string> unusable_host_ip(const std::string& ip) {
  in6_addr a{};
  if (::inet_pton(AF_INET6, ip.c_str(), &a) != 1) return std::nullopt;
  if (a.s6_addr[0] == 0xfe && (a.s6_addr[1] & 0xc0) == 0x80)
    return quote(ip) + " is a link-local address, which needs an interface: give a global address, or none";
  // IPv6 has no route_localnet: the kernel drops what comes from ::1 on its
  // way to the pod, and a client would wait until it times out.
  if (IN6_IS_ADDR_LOOPBACK(&a))
    return quote(ip) + " is IPv6's loopback, which the kernel does not forward to a pod: give 127.0.0.1, " +
           "a global address, or none";
  // An IPv6-only socket cannot bind it, nor does portmap forward it as IPv4.
  if (IN6_IS_ADDR_V4MAPPED(&a))
    return quote(ip) + " is an IPv4 address written as IPv6: give it as IPv4 (" + std::to_string(a.s6_addr[12]) + "." +
           std::to_string(a.s6_addr[13]) + "." + std::to_string(a.s6_addr[14]) + "." + std::to_string(a.s6_addr[15]) +
           ")";
  return std::nullopt;
}

/// A host address of --port, parsed; nothing for none (every address).
struct HostAddress {
  bool v6 = false;
  bool any = false;  ///< 0.0.0.0 or ::
  unsigned char bytes[sizeof(in6_addr)] = {};
};

std::optional<HostAddress> host_address(const std::string& ip) {
  if (ip.empty()) return std::nullopt;
  HostAddress h;
  IpFamily family = ip_family(ip);
  if (family == IpFamily::kNone) return std::nullopt;
  h.v6 = family == IpFamily::kV6;
  if (::inet_pton(h.v6 ? AF_INET6 : AF_INET, ip.c_str(), h.bytes) != 1) return std::nullopt;
  h.any = std::all_of(std::begin(h.bytes), std::end(h.bytes), [](unsigned char c) { return c == 0; });
  return h;
}

}  // namespace

bool is_ip_address(const std::string& s) {
  unsigned char buf[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

NetSpec parse_net_spec(const std::string& spec) {
  auto bad = [&](const std::string& why) { return Error("invalid --net " + quote(spec) + ": " + why); };
  NetSpec out;
  if (spec == "host") {
    out.mode = NetSpec::Mode::kHost;
    return out;
  }
  if (spec == "none") {
    out.mode = NetSpec::Mode::kNone;
    return out;
  }
  if (spec == "all") {
    out.all = true;
    return out;
  }
  if (spec.empty()) throw bad("give host, none, all or NAME[:ARGS],…");
  std::set<std::string> seen;
  for (const auto& item : split(spec, ',')) {
    NetworkSelection sel;
    size_t colon = item.find(':');
    sel.name = item.substr(0, colon);
    if (colon != std::string::npos) sel.args = item.substr(colon + 1);
    if (sel.name == "host" || sel.name == "none" || sel.name == "all")
      throw bad(quote(sel.name) + " cannot be combined with other networks");
    if (!valid_network_name(sel.name))
      throw bad("network name " + quote(sel.name) + " must be letters, digits, '-', '_' or '.'");
    if (colon != std::string::npos) {
      if (sel.args.empty()) throw bad("no arguments after " + quote(sel.name + ":"));
      for (const auto& kv : split(sel.args, ';')) {
        size_t eq = kv.find('=');
        if (eq == 0 || eq == std::string::npos || !is_word(kv))
          throw bad("argument " + quote(kv) + " of network " + quote(sel.name) + " is not K=V");
      }
    }
    if (!seen.insert(sel.name).second) throw bad("network " + quote(sel.name) + " is given twice");
    out.networks.push_back(std::move(sel));
  }
  return out;
}

PortSpec parse_port_spec(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error("invalid --port " + quote(text) + ": " + why +
                 " (expected [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp] or NAME:[HOSTIP:]HOSTPORT)");
  };
  PortSpec p;
  p.text = text;
  if (text.find(',') != std::string::npos) throw bad("one port per --port, no commas");
  std::vector<std::string> f = split_port_fields(text);
  if (f.size() < 2 || f.size() > 3) throw bad("wrong number of fields");
  bool by_name = !is_digits(f[0]) && !(f.size() == 3 && host_ip_field(f[0]));
  // HOSTIP:HOSTPORT:PODPORT with a HOSTIP that is none (NAME:HOSTIP:HOSTPORT
  // has no port in the middle).
  if (by_name && f.size() == 3 && is_digits(f[1])) throw bad(quote(f[0]) + " is not an IP address");
  if (by_name) {
    p.name = f[0];
    if (!is_word(p.name) || p.name.find('/') == 0) throw bad("invalid port name " + quote(p.name));
    if (f.size() == 3) {
      auto ip = host_ip_field(f[1]);
      if (!ip) throw bad(quote(f[1]) + " is not an IP address");
      p.host_ip = *ip;
      if (auto why = unusable_host_ip(p.host_ip)) throw bad(*why);
    }
    auto hp = port_number(f.back());
    if (!hp) throw bad(quote(f.back()) + " is not a port number (1-65535)");
    p.host_port = *hp;
    return p;
  }
  if (f.size() == 3) {
    auto ip = host_ip_field(f[0]);
    if (!ip) throw bad(quote(f[0]) + " is not an IP address");
    p.host_ip = *ip;
    f.erase(f.begin());
  }
  if (auto why = unusable_host_ip(p.host_ip)) throw bad(*why);
  std::string pod = f[1];
  if (size_t slash = pod.find('/'); slash != std::string::npos) {
    p.protocol = pod.substr(slash + 1);
    pod.resize(slash);
    if (p.protocol != "tcp" && p.protocol != "udp") throw bad("protocol " + quote(p.protocol) + " is not tcp or udp");
  }
  auto hp = port_number(f[0]);
  auto pp = port_number(pod);
  if (!hp) throw bad(quote(f[0]) + " is not a port number (1-65535)");
  if (!pp) throw bad(quote(pod) + " is not a port number (1-65535)");
  p.host_port = *hp;
  p.pod_port = *pp;
  return p;
}

PortMapping resolve_port(const PortSpec& spec, const std::vector<std::string>& exposed_ports) {
  PortMapping m{spec.host_ip, spec.host_port, spec.pod_port, spec.protocol};
  if (spec.name.empty()) return m;
  std::string exposed_list;
  for (const auto& e : exposed_ports) {
    std::string port = e, proto = "tcp";
    if (size_t slash = e.find('/'); slash != std::string::npos) {
      port = e.substr(0, slash);
      proto = e.substr(slash + 1);
    }
    exposed_list += (exposed_list.empty() ? "" : ", ") + port + "-" + proto;
    if (spec.name != port + "-" + proto && spec.name != port + "/" + proto) continue;
    auto pp = port_number(port);
    if (!pp || (proto != "tcp" && proto != "udp"))
      throw Error("--port " + quote(spec.text) + ": the image's exposed port " + quote(e) + " is not usable");
    m.pod_port = *pp;
    m.protocol = proto;
    return m;
  }
  throw Error("--port " + quote(spec.text) + ": no image of the pod exposes a port named " + quote(spec.name) +
              (exposed_list.empty() ? " (they expose none)" : " (exposed: " + exposed_list + ")"));
}

std::string host_port_text(const PortMapping& p) {
  return "host port " + std::to_string(p.host_port) + "/" + p.protocol + (p.host_ip.empty() ? "" : " on " + p.host_ip);
}

std::optional<std::string> port_clash(const PortMapping& a, const PortMapping& b) {
  if (a.host_port != b.host_port || a.protocol != b.protocol) return std::nullopt;
  std::optional<HostAddress> x = host_address(a.host_ip), y = host_address(b.host_ip);
  // No HOSTIP is IPv4's every address and (once the pod has an IPv6
  // address) IPv6's: it takes the port of any. 0.0.0.0 and [::] are their
  // family's alone, as portmap forwards them and crt reserves them.
  bool clash = !x || !y ||
               (x->v6 == y->v6 && (x->any || y->any || std::memcmp(x->bytes, y->bytes, sizeof x->bytes) == 0));
  if (!clash) return std::nullopt;
  bool same_address = x && y && !x->any && std::memcmp(x->bytes, y->bytes, sizeof x->bytes) == 0;
  return host_port_text({same_address ? a.host_ip : "", a.host_port, a.pod_port, a.protocol});
}

void check_ports_unique(const std::vector<PortMapping>& ports) {
  for (size_t i = 0; i < ports.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (auto clash = port_clash(ports[i], ports[j])) throw Error("--port: " + *clash + " is given twice");
}

DnsConfig make_dns_config(const std::vector<std::string>& servers, const std::vector<std::string>& search,
                          const std::vector<std::string>& options) {
  for (const auto& s : servers)
    if (!is_ip_address(s)) throw Error("invalid --dns " + quote(s) + ": not an IP address");
  for (const auto& s : search)
    if (!is_word(s)) throw Error("invalid --dns-search " + quote(s) + ": a domain has no spaces");
  for (const auto& s : options)
    if (!is_word(s)) throw Error("invalid --dns-opt " + quote(s) + ": an option has no spaces");
  return {servers, search, options};
}

HostsEntry parse_hosts_entry(const std::string& text) {
  size_t eq = text.find('=');
  auto bad = [&](const std::string& why) {
    return Error("invalid --hosts-entry " + quote(text) + ": " + why + " (expected IP=HOST)");
  };
  if (eq == std::string::npos) throw bad("no '='");
  HostsEntry e{text.substr(0, eq), text.substr(eq + 1)};
  if (!is_ip_address(e.ip)) throw bad(quote(e.ip) + " is not an IP address");
  bool host_ok = !e.host.empty() && e.host.size() <= 253 && std::all_of(e.host.begin(), e.host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
  if (!host_ok) throw bad(quote(e.host) + " is not a host name");
  return e;
}

void to_json(nlohmann::json& j, const PortMapping& v) {
  j = {{"host_ip", v.host_ip}, {"host_port", v.host_port}, {"pod_port", v.pod_port}, {"protocol", v.protocol}};
}

void from_json(const nlohmann::json& j, PortMapping& v) {
  j.at("host_ip").get_to(v.host_ip);
  j.at("host_port").get_to(v.host_port);
  j.at("pod_port").get_to(v.pod_port);
  j.at("protocol").get_to(v.protocol);
}

void to_json(nlohmann::json& j, const DnsConfig& v) {
  j = {{"servers", v.servers}, {"search", v.search}, {"options", v.options}};
}

void from_json(const nlohmann::json& j, DnsConfig& v) {
  j.at("servers").get_to(v.servers);
  j.at("search").get_to(v.search);
  j.at("options").get_to(v.options);
}

void to_json(nlohmann::json& j, const HostsEntry& v) { j = {{"ip", v.ip}, {"host", v.host}}; }

void from_json(const nlohmann::json& j, HostsEntry& v) {
  j.at("ip").get_to(v.ip);
  j.at("host").get_to(v.host);
}

}  // namespace crt::pod
