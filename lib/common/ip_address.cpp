#include "common/ip_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

namespace crt {

IpFamily ip_family(std::string_view address) {
  if (address.find('\0') != std::string_view::npos) return IpFamily::kNone;
  std::string text(address);  // inet_pton() reads up to a NUL
  in6_addr bytes{};
  if (::inet_pton(AF_INET6, text.c_str(), &bytes) == 1) return IpFamily::kV6;
  if (::inet_pton(AF_INET, text.c_str(), &bytes) == 1) return IpFamily::kV4;
  return IpFamily::kNone;
}

}  // namespace crt
