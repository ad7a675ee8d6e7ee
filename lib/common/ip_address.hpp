#pragma once

// Which family an IP address is of, in one place: "has a ':'" takes a
// bracketed "[::1]", a zone ("fe80::1%eth0") or a port ("1.2.3.4:80") for
// IPv6, and the two families must never be told apart two ways.

#include <string_view>

namespace crt {

enum class IpFamily { kNone, kV4, kV6 };

/// The family of `address` as inet_pton(3) reads it: kNone for anything
/// but an address alone ("", "[::1]", "fe80::1%eth0", "1.2.3.4:80",
/// "10.0.0.2/24", a host name).
IpFamily ip_family(std::string_view address);

/// Whether `address` is an IPv6 address (ip_family()): "::", "::1",
/// "::ffff:1.2.3.4"; not "1.2.3.4", "", "[::1]".
inline bool is_ipv6(std::string_view address) { return ip_family(address) == IpFamily::kV6; }

}  // namespace crt
