#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/ip_address.hpp"

namespace crt::net {

/// A CNI result of any spec version (0.1.0 to 1.0.0), normalized.
struct Result {
  struct Interface {
    std::string name;
    std::string mac;
    std::string sandbox;  ///< empty: on the host
  };
  struct Ip {
    std::string address;  ///< CIDR, "172.16.28.2/24"
    std::string gateway;
    int interface = -1;  ///< index into interfaces, -1 if not given
    [[nodiscard]] bool v6() const { return is_ipv6(ip()); }
    /// The address without its prefix length.
    [[nodiscard]] std::string ip() const { return address.substr(0, address.find('/')); }
  };
  struct Route {
    std::string dst;
    std::string gw;
  };
  std::vector<Interface> interfaces;
  std::vector<Ip> ips;
  std::vector<Route> routes;
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;

  /// Which address families the addresses are of.
  struct Families {
    bool v4 = false;
    bool v6 = false;
  };
  [[nodiscard]] Families families() const;
  /// The first IPv4 (or IPv6) address, without prefix; empty if none.
  [[nodiscard]] std::string first_ip(bool v6) const;
  /// Host-side interfaces the plugins created (no sandbox), e.g. veths.
  [[nodiscard]] std::vector<std::string> host_interfaces() const;
};

/// Parses a plugin's result; throws a crt::Error if it is not one.
Result parse_result(const nlohmann::json& j);

}  // namespace crt::net
