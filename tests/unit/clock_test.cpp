// RFC 3339 times as crt prints and reads them (crt logs --since, -t).

#include "common/clock.hpp"

#include <gtest/gtest.h>

namespace crt {
namespace {

TEST(Rfc3339, ReadsWhatItWrites) {
  uint64_t t = 1796074218123000;  // 2026-11-30T21:30:18.123Z
  std::string s = rfc3339_from_usec(t);
  EXPECT_EQ(s, "2026-11-30T21:30:18.123Z");
  EXPECT_EQ(usec_from_rfc3339(s), t);
  EXPECT_EQ(rfc3339_from_usec(t + 999), s) << "cut to milliseconds";
}

TEST(Rfc3339, TakesAnyFractionOrNone) {
  EXPECT_EQ(usec_from_rfc3339("1970-01-01T00:00:01Z"), 1000000U);
  EXPECT_EQ(usec_from_rfc3339("1970-01-01T00:00:01.5Z"), 1500000U);
  EXPECT_EQ(usec_from_rfc3339("1970-01-01T00:00:01.123456789Z"), 1123456U);
}

TEST(Rfc3339, RejectsWhatIsNotOne) {
  for (const char* bad : {"", "10m", "2026-11-30", "2026-11-30T21:30:18", "2026-11-30 21:30:18Z",
                          "2026-13-30T21:30:18Z", "2026-11-30T25:30:18Z", "2026-11-30T21:30:18.Z",
                          "2026-11-30T21:30:18.12xZ", "2026-11-30T21:30:18+01:00", "2026-02-31T00:00:00Z",
                          "2026-11-30T21:30:60Z"})
    EXPECT_EQ(usec_from_rfc3339(bad), std::nullopt) << bad;
}

}  // namespace
}  // namespace crt
