#include "common/lock.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "test_support.hpp"

namespace crt {
namespace {

using Mode = FileLock::Mode;

TEST(FileLock, CreatesTheLockFile) {
  test::Scratch s;
  FileLock l = FileLock::acquire(s / "lock", Mode::kExclusive);
  EXPECT_TRUE(l.valid());
  EXPECT_TRUE(std::filesystem::exists(s / "lock"));
}

TEST(FileLock, SharedLocksCoexist) {
  test::Scratch s;
  FileLock a = FileLock::acquire(s / "lock", Mode::kShared);
  FileLock b = FileLock::try_acquire(s / "lock", Mode::kShared);
  EXPECT_TRUE(b.valid());
  EXPECT_FALSE(FileLock::try_acquire(s / "lock", Mode::kExclusive).valid());
}

TEST(FileLock, ExclusiveExcludesEveryone) {
  test::Scratch s;
  FileLock a = FileLock::acquire(s / "lock", Mode::kExclusive);
  EXPECT_FALSE(FileLock::try_acquire(s / "lock", Mode::kShared).valid());
  EXPECT_FALSE(FileLock::try_acquire(s / "lock", Mode::kExclusive).valid());
}

TEST(FileLock, ReleasedOnDestruction) {
  test::Scratch s;
  { FileLock a = FileLock::acquire(s / "lock", Mode::kExclusive); }
  EXPECT_TRUE(FileLock::try_acquire(s / "lock", Mode::kExclusive).valid());
}

TEST(FileLock, DirectoryCanBeLocked) {
  test::Scratch s;
  FileLock a = FileLock::try_acquire(fs::open_fd(s.path(), O_RDONLY | O_DIRECTORY), Mode::kExclusive);
  ASSERT_TRUE(a.valid());
  EXPECT_FALSE(FileLock::try_acquire(s.path(), Mode::kShared).valid());
}

TEST(FileLock, KeptAcrossExecWhenAsked) {
  test::Scratch s;
  FileLock a = FileLock::acquire(s / "lock", Mode::kExclusive);
  EXPECT_NE(::fcntl(a.fd(), F_GETFD) & FD_CLOEXEC, 0);
  a.inherit_on_exec();
  EXPECT_EQ(::fcntl(a.fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(FileLock, KnowsWhetherItsFileIsStillThere) {
  test::Scratch s;
  FileLock a = FileLock::acquire(s / "lock", Mode::kExclusive);
  EXPECT_TRUE(a.still_at(s / "lock"));
  std::filesystem::remove(s / "lock");
  EXPECT_FALSE(a.still_at(s / "lock"));
  FileLock b = FileLock::acquire(s / "lock", Mode::kExclusive);
  EXPECT_FALSE(a.still_at(s / "lock")) << "another file of the same name";
  EXPECT_TRUE(b.still_at(s / "lock"));
}

TEST(FileLock, AWaitIsToldOnceAndCanBeCancelled) {
  test::Scratch s;
  FileLock held = FileLock::acquire(s / "lock", Mode::kExclusive);
  std::vector<std::string> told;
  int asked = 0;
  LockWait wait{[&](const std::string& what) { told.push_back(what); }, [&] { return ++asked == 3; }};
  try {
    FileLock l = FileLock::acquire(s / "lock", Mode::kShared, wait, "the test");
    FAIL() << "acquired a held lock";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "interrupted while waiting for the test");
  }
  EXPECT_EQ(told, std::vector<std::string>{"the test"});
  EXPECT_EQ(asked, 3);
}

TEST(FileLock, AFreeLockIsTakenWithoutAWord) {
  test::Scratch s;
  bool told = false;
  LockWait wait{[&](const std::string&) { told = true; }, [] { return true; }};
  FileLock l = FileLock::acquire(s / "lock", Mode::kExclusive, wait, "the test");
  EXPECT_TRUE(l.valid());
  EXPECT_FALSE(told);
}

TEST(FileLock, AWaitWithinATimeGivesUpPastItSayingMeanwhileThatItWaits) {
  test::Scratch s;
  FileLock held = FileLock::acquire(s / "lock", Mode::kExclusive);
  int told = 0;
  auto start = std::chrono::steady_clock::now();
  FileLock l = FileLock::acquire_within(
      s / "lock", Mode::kExclusive, std::chrono::milliseconds(400), [&] { ++told; }, std::chrono::milliseconds(100));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(l.valid());
  EXPECT_GE(waited, std::chrono::milliseconds(400));
  EXPECT_LT(waited, std::chrono::seconds(3));
  EXPECT_GE(told, 3);  // at once, then every 100 ms
  EXPECT_LE(told, 5);
  held = FileLock();
  told = 0;
  l = FileLock::acquire_within(s / "lock", Mode::kExclusive, std::chrono::milliseconds(400), [&] { ++told; });
  EXPECT_TRUE(l.valid());
  EXPECT_EQ(told, 0) << "a free lock is taken without a word";
}

TEST(FileLock, UnopenablePathThrows) {
  test::Scratch s;
  EXPECT_THROW(FileLock::acquire(s / "no" / "lock", Mode::kShared), Error);
}

}  // namespace
}  // namespace crt
