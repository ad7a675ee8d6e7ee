#include "common/ip_address.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "net/result.hpp"

namespace crt {
namespace {

TEST(IpFamily, ReadsEachFamilyAsInetPtonDoes) {
  for (const char* v6 : {"::", "::1", "fe80::1", "fd42:c27::2", "::ffff:1.2.3.4", "2001:DB8::1"})
    EXPECT_EQ(ip_family(v6), IpFamily::kV6) << v6;
  for (const char* v4 : {"1.2.3.4", "0.0.0.0", "255.255.255.255"}) EXPECT_EQ(ip_family(v4), IpFamily::kV4) << v4;
}

// What "has a ':'" took for IPv6, and what is no address at all.
TEST(IpFamily, OddInputsAreOfNoFamily) {
  for (const char* odd : {"", ":", ":::", "[::1]", "fe80::1%eth0", "1.2.3.4:80", "1.2.3", "1.2.3.256", "localhost",
                          " 1.2.3.4", "::1 ", "1.2.3.4\n", "fd42:c27::2/64", "172.16.28.2/24"})
    EXPECT_EQ(ip_family(odd), IpFamily::kNone) << '"' << odd << '"';
  EXPECT_EQ(ip_family(std::string_view("::1\0junk", 8)), IpFamily::kNone) << "a NUL inside";
}

TEST(IsIpv6, IsIpFamilysV6) {
  EXPECT_TRUE(is_ipv6("::"));
  EXPECT_TRUE(is_ipv6("::ffff:1.2.3.4"));
  EXPECT_FALSE(is_ipv6("1.2.3.4"));
  EXPECT_FALSE(is_ipv6(""));
  EXPECT_FALSE(is_ipv6("[::1]"));
  EXPECT_FALSE(is_ipv6("fe80::1%eth0"));
}

// A CNI result's addresses (CIDR) are of the family of their address
// alone; one of neither (a plugin's bug) counts for neither.
TEST(IpFamily, AResultsFamiliesAreThoseOfItsAddresses) {
  auto families = [](const char* address) {
    return net::parse_result(nlohmann::json{{"ips", {{{"address", address}}}}}).families();
  };
  EXPECT_TRUE(families("fd42:c27::2/64").v6);
  EXPECT_FALSE(families("fd42:c27::2/64").v4);
  EXPECT_TRUE(families("172.16.28.2/24").v4);
  for (const char* odd : {"fe80::1%eth0/64", "[fd42::2]/64", "", ":/64"}) {
    EXPECT_FALSE(families(odd).v6) << odd;
    EXPECT_FALSE(families(odd).v4) << odd;
  }
  EXPECT_TRUE(net::parse_result(nlohmann::json{{"ips", {{{"address", "fd42::2/64"}}}}}).ips[0].v6());
  EXPECT_FALSE(net::parse_result(nlohmann::json{{"ips", {{{"address", "10.0.0.2/8"}}}}}).ips[0].v6());
}

}  // namespace
}  // namespace crt
