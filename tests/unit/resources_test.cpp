#include "pod/resources.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "pod/units.hpp"

namespace crt::pod {
namespace {

TEST(ParseMemory, PlainBytes) {
  EXPECT_EQ(parse_memory("4096"), 4096u);
  EXPECT_EQ(parse_memory("1073741824"), 1073741824u);
  EXPECT_EQ(parse_memory("18446744073709551615"), 18446744073709551615u);
}

TEST(ParseMemory, DecimalSuffixes) {
  EXPECT_EQ(parse_memory("5k"), 5000u);
  EXPECT_EQ(parse_memory("5K"), 5000u);
  EXPECT_EQ(parse_memory("100M"), 100000000u);
  EXPECT_EQ(parse_memory("2G"), 2000000000u);
  EXPECT_EQ(parse_memory("3T"), 3000000000000u);
}

TEST(ParseMemory, BinarySuffixes) {
  EXPECT_EQ(parse_memory("4Ki"), 4096u);
  EXPECT_EQ(parse_memory("100Mi"), 100u << 20);
  EXPECT_EQ(parse_memory("1Gi"), 1u << 30);
  EXPECT_EQ(parse_memory("2Ti"), 2ULL << 40);
}

TEST(ParseMemory, BelowOnePageIsTooSmall) {
  EXPECT_THROW(parse_memory("4095"), Error);
  EXPECT_THROW(parse_memory("1k"), Error);
  EXPECT_THROW(parse_memory("1Ki"), Error);
  EXPECT_THROW(parse_memory("0"), Error);
  EXPECT_THROW(parse_memory("0G"), Error);
}

TEST(ParseMemory, MalformedIsAnError) {
  for (const char* bad : {"",      "M",   "Gi",  ".G", ".",  "1.G", "1..5G",  "1.5.0G", "-4096", "+4096",   " 4096",
                          "4096 ", "1 G", "1GB", "1g", "1m", "1mi", "0x1000", "1e9",    "10%",   "infinity"})
    EXPECT_THROW(parse_memory(bad), Error) << "'" << bad << "'";
}

TEST(ParseMemory, AFractionOfWholeBytesIsTaken) {
  EXPECT_EQ(parse_memory("1.5G"), 1500000000u);
  EXPECT_EQ(parse_memory("0.5Gi"), 1u << 29);
  EXPECT_EQ(parse_memory("4.25Ki"), 4352u);
  EXPECT_EQ(parse_memory("4096.0"), 4096u);
  EXPECT_EQ(parse_memory(".5Gi"), 1u << 29);
  EXPECT_EQ(parse_memory("1.50000000000000000000000G"), 1500000000u) << "trailing zeros";
  EXPECT_EQ(parse_memory("0.000000004096T"), 4096u);
}

TEST(ParseMemory, AFractionOfAByteIsAnError) {
  try {
    parse_memory("1.0001K");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "memory size '1.0001K' is not a whole number of bytes");
  }
  EXPECT_THROW(parse_memory("4096.5"), Error);
}

TEST(ParseMemory, OverflowIsTooLarge) {
  for (const char* big : {"18446744073709551616", "17179869184Gi", "18446745T", "99999999T", "18446744073709551.616K",
                          "99999999999999999999999999999999999999999999.5T"}) {
    try {
      parse_memory(big);
      ADD_FAILURE() << big;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "memory size '" + std::string(big) + "' is too large");
    }
  }
  EXPECT_EQ(parse_memory("18446744073709551.615K"), 18446744073709551615u);
}

TEST(ParseMemory, MessageSaysWhatIsExpected) {
  try {
    parse_memory("lots");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid memory size 'lots': expected bytes or a number with K, M, G, T, Ki, Mi, Gi or Ti");
  }
}

TEST(ParseMemory, DockersLowerCaseSuffixesGetAHint) {
  try {
    parse_memory("1g");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "invalid memory size '1g': expected bytes or a number with K, M, G, T, Ki, Mi, Gi or Ti (the "
                 "suffixes are upper-case: 1G)");
  }
  for (const auto& [value, hint] : std::vector<std::pair<std::string, std::string>>{
           {"512m", "512M"}, {"1ki", "1Ki"}, {"2gi", "2Gi"}, {"1mi", "1Mi"}}) {
    try {
      parse_memory(value);
      FAIL() << value;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), ::testing::EndsWith("(the suffixes are upper-case: " + hint + ")")) << value;
    }
  }
  EXPECT_EQ(parse_memory("8k"), 8000u) << "k is SI's kilo";
}

TEST(ParseCpuMillis, Millicores) {
  EXPECT_EQ(parse_cpu_millis("200m"), 200u);
  EXPECT_EQ(parse_cpu_millis("1m"), 1u);
  EXPECT_EQ(parse_cpu_millis("1500m"), 1500u);
}

TEST(ParseCpuMillis, Cores) {
  EXPECT_EQ(parse_cpu_millis("2"), 2000u);
  EXPECT_EQ(parse_cpu_millis("0.5"), 500u);
  EXPECT_EQ(parse_cpu_millis("1.5"), 1500u);
  EXPECT_EQ(parse_cpu_millis("1.25"), 1250u);
  EXPECT_EQ(parse_cpu_millis("0.001"), 1u);
  EXPECT_EQ(parse_cpu_millis("64"), 64000u);
}

TEST(ParseCpuMillis, MoreThanSystemdTakesIsAnError) {
  EXPECT_EQ(parse_cpu_millis("214748364m"), 214748364u);
  EXPECT_EQ(cpu_quota(214748364), "21474836.4%");
  for (const char* big : {"214748365m", "1000000"}) {
    try {
      parse_cpu_millis(big);
      ADD_FAILURE() << big << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("more than a quota systemd sets"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseCpuMillis, ZeroIsAnError) {
  EXPECT_THROW(parse_cpu_millis("0"), Error);
  EXPECT_THROW(parse_cpu_millis("0m"), Error);
  EXPECT_THROW(parse_cpu_millis("0.000"), Error);
}

TEST(ParseCpuMillis, FinerThanAMillicoreSaysSo) {
  try {
    parse_cpu_millis("0.0001");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("finer than crt's unit, the millicore"), std::string::npos) << e.what();
  }
}

TEST(ParseCpuMillis, MalformedIsAnError) {
  for (const char* bad : {"", "m", "0.0001", "1.5m", "5.", ".", "-1", "+1", "1e3", "1,5", "200M", "two", "1 ", " 1",
                          "99999999999999999999"})
    EXPECT_THROW(parse_cpu_millis(bad), Error) << "'" << bad << "'";
}

}  // namespace
}  // namespace crt::pod
