// crt inspect's resource figures: which values mean "no limit".

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/inspect.hpp"

namespace crt::runtime {
namespace {

TEST(NoLimit, CgroupV2SaysMax) {
  EXPECT_TRUE(is_no_limit("memory_max", "max"));
  EXPECT_TRUE(is_no_limit("cpu_max", "max 100000"));
  EXPECT_FALSE(is_no_limit("cpu_max", "20000 100000"));
  EXPECT_FALSE(is_no_limit("memory_max", "99999744"));
}

TEST(NoLimit, CgroupV1SaysItsLargestNumbers) {
  if (::sysconf(_SC_PAGESIZE) == 4096) {
    EXPECT_TRUE(is_no_limit("memory_max", "9223372036854771712"));
  }
  EXPECT_FALSE(is_no_limit("memory_max", "9223372036854771711"));
  EXPECT_TRUE(is_no_limit("cpu_quota_us", "-1"));
  EXPECT_FALSE(is_no_limit("cpu_quota_us", "20000"));
}

TEST(NoLimit, OnlyForLimits) {
  EXPECT_FALSE(is_no_limit("memory_current", "max"));
  EXPECT_FALSE(is_no_limit("cpu_period_us", "-1"));
}

}  // namespace
}  // namespace crt::runtime
