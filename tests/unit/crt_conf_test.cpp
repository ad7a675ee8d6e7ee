#include "config/crt_conf.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace crt::config {
namespace {

TEST(CrtConf, Registries) {
  CrtConfig c = parse_config(
      "# crt\n[registries]\ndefault = a.example, 127.0.0.1:5000\ninsecure=127.0.0.1:5000\n ca-file = /etc/ca.pem \n",
      "crt.conf");
  EXPECT_EQ(c.default_registries, (std::vector<std::string>{"a.example", "127.0.0.1:5000"}));
  EXPECT_EQ(c.insecure_registries, (std::vector<std::string>{"127.0.0.1:5000"}));
  EXPECT_EQ(c.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(parse_config("", "x").default_registries.empty());
  EXPECT_TRUE(load_config("/nonexistent/crt.conf").default_registries.empty());
}

TEST(CrtConf, TyposAreErrorsWithTheirLine) {
  try {
    parse_config("[registries]\ndefualt = x\n", "crt.conf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "crt.conf:2: unknown key 'defualt' in [registries]");
  }
  EXPECT_THROW(parse_config("[registry]\n", "c"), Error);
  EXPECT_THROW(parse_config("default = x\n", "c"), Error);
  EXPECT_THROW(parse_config("[registries]\njunk\n", "c"), Error);
}

}  // namespace
}  // namespace crt::config
