#include "runtime/service_progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace crt::runtime {
namespace {

using ::testing::ElementsAre;
using Clock = ServiceProgress::Clock;

/// Counts what reaches the progress a ServiceProgress wraps.
struct Counting : store::Progress {
  int starts = 0, updates = 0, finishes = 0;
  void start(const std::string&, const std::string&, int64_t) override { ++starts; }
  void update(const std::string&, uint64_t) override { ++updates; }
  void finish(const std::string&, const std::string&) override { ++finishes; }
};

struct ServiceProgressTest : ::testing::Test {
  Counting inner;
  std::vector<std::string> sent;
  Clock::time_point now = Clock::time_point(std::chrono::hours(1));
  ServiceProgress progress{inner, [this](const std::string& m) { sent.push_back(m); }, [this] { return now; }};
};

const std::string kId = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kExtend = "\nEXTEND_TIMEOUT_USEC=60000000";

TEST_F(ServiceProgressTest, SaysWhatItDoesAndAsksForMoreTimeWhileItGoesOn) {
  progress.start(kId, "fetching", 12'300'000);
  now += std::chrono::milliseconds(500);
  progress.update(kId, 1'000'000);  // too soon after the last
  now += std::chrono::milliseconds(600);
  progress.update(kId, 4'100'000);
  progress.update(kId, 4'200'000);  // too soon
  progress.finish(kId, "done");
  EXPECT_THAT(sent,
              ElementsAre("STATUS=fetching sha256:0123456789ab (12.3 MB)" + kExtend,
                          "STATUS=fetching sha256:0123456789ab: 4.1 MB of 12.3 MB" + kExtend, "STATUS=" + kExtend));
  EXPECT_EQ(inner.starts, 1);
  EXPECT_EQ(inner.updates, 3);
  EXPECT_EQ(inner.finishes, 1);
}

// A registry that sends the same first bytes again on each try and then
// stalls must not keep the unit's start waiting for ever.
TEST_F(ServiceProgressTest, OnlyBytesNotSeenBeforeAskForMoreTime) {
  progress.start(kId, "fetching", 2'000'000);
  now += std::chrono::seconds(31);
  progress.update(kId, 1000);
  for (int retry = 0; retry < 3; ++retry) {
    now += std::chrono::seconds(31);
    progress.update(kId, 500);  // the download started again
    progress.update(kId, 1000);
  }
  now += std::chrono::seconds(31);
  progress.update(kId, 1500);
  EXPECT_THAT(sent, ElementsAre("STATUS=fetching sha256:0123456789ab (2 MB)" + kExtend,
                                "STATUS=fetching sha256:0123456789ab: 1 kB of 2 MB" + kExtend,
                                "STATUS=fetching sha256:0123456789ab: 1.5 kB of 2 MB" + kExtend));
  EXPECT_EQ(inner.updates, 8);
}

TEST_F(ServiceProgressTest, AnotherTaskStillRunningKeepsAStatus) {
  progress.start(kId, "fetching", -1);
  progress.start("sha256:ffff", "unpacking", -1);
  progress.finish(kId, "done");
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_EQ(sent[0], "STATUS=fetching sha256:0123456789ab" + kExtend);
  EXPECT_EQ(sent[2], "STATUS=unpacking sha256:ffff" + kExtend);
}

TEST_F(ServiceProgressTest, ALayerTheStoreHasSaysNothing) {
  progress.finish(kId, "exists");
  EXPECT_THAT(sent, ::testing::IsEmpty());
  EXPECT_EQ(inner.finishes, 1);
}

TEST(ServiceProgress, WithoutAServiceManagerItOnlyPassesEventsOn) {
  Counting inner;
  ServiceProgress progress(inner, {});
  progress.start(kId, "fetching", 10);
  progress.update(kId, 5);
  progress.finish(kId, "done");
  EXPECT_EQ(inner.starts + inner.updates + inner.finishes, 3);
}

// Before each program of a network's teardown, the unit waiting for crt is
// asked to wait as long as the program may take and the rest of crt's
// cleanup after it; outside a unit, nothing is sent.
TEST(CleanupRenewal, AsksForTheProgramsTimeAndTheRestOfTheCleanup) {
  std::vector<std::string> sent;
  auto renew = cleanup_renewal([&sent](const std::string& m) { sent.push_back(m); });
  ASSERT_TRUE(renew);
  renew(std::chrono::seconds(36));
  renew(std::chrono::seconds(7));
  EXPECT_THAT(sent, ElementsAre("EXTEND_TIMEOUT_USEC=45000000", "EXTEND_TIMEOUT_USEC=16000000"));
  EXPECT_FALSE(cleanup_renewal({}));
}

// A unit waits for crt's cleanup 45 s (one teardown program of the default
// 30 s, its kill, and the rest), or longer for a longer --plugin-time-limit.
TEST(CleanupTime, FitsOneProgramOfTheTimeLimitAndTheRest) {
  using std::chrono::seconds;
  EXPECT_EQ(cleanup_time(seconds(30)), seconds(45));
  EXPECT_EQ(cleanup_time(seconds(60)), seconds(75));
  EXPECT_EQ(cleanup_time(seconds(5)), seconds(45));
  EXPECT_EQ(cleanup_time(seconds(0)), seconds(45)) << "no limit";
}

}  // namespace
}  // namespace crt::runtime
