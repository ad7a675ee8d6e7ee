#include "common/duration.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"

namespace crt {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, SecondsUnitsAndCombinations) {
  EXPECT_EQ(parse_duration("30"), milliseconds(30000));
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(parse_duration("1d"), milliseconds(86400000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
}

TEST(ParseDuration, NonsenseIsAnError) {
  for (const char* bad : {"", "s", "-1", "1x", "1.5s", "30s ", "1 s", "5x3"})
    EXPECT_THROW(parse_duration(bad), Error) << bad;
}

TEST(ParseDuration, TooLongIsOutOfRangeNotWrapped) {
  EXPECT_EQ(parse_duration("36525d"), milliseconds(int64_t{36525} * 86400000));
  for (const char* big : {"36526d", "18446744073709552", "9223372036854776", "18446744073709551616",
                          "99999999999999999999999999ms", "36525d1ms"}) {
    try {
      parse_duration(big);
      ADD_FAILURE() << big << " was taken";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
    }
  }
}

TEST(SecondsText, WholeSecondsAndTheirFractionWithoutTrailingZeros) {
  EXPECT_EQ(seconds_text(milliseconds(30000)), "30 s");
  EXPECT_EQ(seconds_text(milliseconds(1500)), "1.5 s");
  EXPECT_EQ(seconds_text(milliseconds(1050)), "1.05 s");
  EXPECT_EQ(seconds_text(milliseconds(1)), "0.001 s");
  EXPECT_EQ(killed_after_text(milliseconds(30000)), "did not end within 30 s: it was killed");
}

}  // namespace
}  // namespace crt
