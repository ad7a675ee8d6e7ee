#include "common/lock.hpp"

#include <fcntl.h>

#include <gtest/gtest.h>

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

TEST(FileLock, UnopenablePathThrows) {
  test::Scratch s;
  EXPECT_THROW(FileLock::acquire(s / "no" / "lock", Mode::kShared), Error);
}

}  // namespace
}  // namespace crt
