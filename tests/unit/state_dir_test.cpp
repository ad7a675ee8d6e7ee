#include "common/state_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt {
namespace {

using test::Scratch;
using ::testing::HasSubstr;
namespace stdfs = std::filesystem;

mode_t mode_of(const stdfs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// What crt makes, under any umask: the state directory 0755, its parts as
// asked; a missing state directory has nothing to check.
TEST(StateDir, WhatCrtMakesIsRootsAloneAndPassesItsCheck) {
  Scratch s;
  EXPECT_NO_THROW(check_state_dir(s / "state"));
  mode_t old = ::umask(002);
  stdfs::path store = make_state_subdir(s / "state", "store", 0700);
  ::umask(old);
  EXPECT_EQ(store, s / "state" / "store");
  EXPECT_EQ(mode_of(s / "state"), 0755u);
  EXPECT_EQ(mode_of(store), 0700u);
  EXPECT_NO_THROW(check_state_dir(s / "state"));
  EXPECT_NO_THROW(make_state_subdir(s / "state", "pods", 0700));
}

TEST(StateDir, AStateDirectoryOthersOrItsGroupMayWriteInIsRefused) {
  Scratch s;
  stdfs::create_directory(s / "state");
  for (mode_t m : {0777, 01777, 0775, 0757}) {
    ASSERT_EQ(::chmod((s / "state").c_str(), m), 0);
    std::string err = test::error_of([&] { check_state_dir(s / "state"); });
    EXPECT_THAT(err, HasSubstr("crt's state directory: '" + (s / "state").string() + "' is writable by "));
    EXPECT_THAT(err, HasSubstr("chmod go-w '" + (s / "state").string() + "'"));
    EXPECT_EQ(test::error_of([&] { make_state_subdir(s / "state", "store", 0700); }), err);
    EXPECT_FALSE(stdfs::exists(s / "state" / "store")) << "nothing is made in it";
  }
  ASSERT_EQ(::chmod((s / "state").c_str(), 0777), 0);
  EXPECT_THAT(test::error_of([&] { check_state_dir(s / "state"); }), HasSubstr("writable by others (mode 0777)"));
  ASSERT_EQ(::chmod((s / "state").c_str(), 0770), 0);
  EXPECT_THAT(test::error_of([&] { check_state_dir(s / "state"); }), HasSubstr("writable by its group (mode 0770)"));
}

// A symlink in place of one of crt's directories would lead root's writes
// (and chmod, and removals) wherever its maker chose.
TEST(StateDir, ASymlinkOrAFileInPlaceOfTheStoreOrThePodsIsRefused) {
  for (const char* name : kStateSubdirs) {
    Scratch s;
    stdfs::create_directory(s / "elsewhere");
    ASSERT_EQ(::chmod((s / "elsewhere").c_str(), 0755), 0);
    make_state_subdir(s / "state", "pods", 0700);
    stdfs::remove(s / "state" / "pods");
    stdfs::create_directory_symlink(s / "elsewhere", s / "state" / name);
    std::string err = test::error_of([&] { check_state_dir(s / "state"); });
    EXPECT_EQ(err, "crt's state directory: '" + (s / "state" / name).string() + "' is a symlink to '" +
                       (s / "elsewhere").string() +
                       "': another user could make crt write where they choose, as root (remove it, and crt makes "
                       "the directory anew; or give --dir where the state really is)");
    EXPECT_EQ(test::error_of([&] { make_state_subdir(s / "state", name, 0700); }), err);
    EXPECT_TRUE(test::list_dir(s / "elsewhere").empty());
    stdfs::remove(s / "state" / name);
    test::write_text(s / "state" / name, "");
    EXPECT_THAT(test::error_of([&] { check_state_dir(s / "state"); }), HasSubstr("is a regular file, not a directory"));
  }
}

// An admin's /var/lib/crt -> /srv/crt, a chain of such links too.
TEST(StateDir, AStateDirectoryThatIsASymlinkOfRootsIsTakenAndItsTargetChecked) {
  Scratch s;
  stdfs::create_directory(s / "real");
  ASSERT_EQ(::chmod((s / "real").c_str(), 0755), 0);
  stdfs::create_directory_symlink(s / "real", s / "link");
  stdfs::create_directory_symlink("link", s / "chain");
  EXPECT_NO_THROW(check_state_dir(s / "link"));
  EXPECT_NO_THROW(check_state_dir(s / "chain"));
  ASSERT_EQ(::chmod((s / "real").c_str(), 0777), 0);
  EXPECT_THAT(test::error_of([&] { check_state_dir(s / "chain"); }),
              HasSubstr("'" + (s / "real").string() + "' is writable by others"));
  ASSERT_EQ(::chmod((s / "real").c_str(), 0755), 0);
  stdfs::create_directory_symlink("/", s / "real" / "store");
  EXPECT_THAT(test::error_of([&] { check_state_dir(s / "link"); }),
              HasSubstr("'" + (s / "real" / "store").string() + "' is a symlink to '/'"));
}

// Owned by another user: a directory, or a symlink leading to crt's state.
TEST(StateDir, WhatAnotherUserOwnsIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file to another user needs root";
  Scratch s;
  const uid_t other = 65534;
  stdfs::create_directory(s / "state");
  ASSERT_EQ(::chmod((s / "state").c_str(), 0755), 0);
  ASSERT_EQ(::chown((s / "state").c_str(), other, other), 0);
  std::string err = test::error_of([&] { check_state_dir(s / "state"); });
  EXPECT_THAT(err, HasSubstr("'" + (s / "state").string() + "' is owned by uid 65534, not root"));
  EXPECT_THAT(err, HasSubstr("chown root '" + (s / "state").string() + "'"));
  ASSERT_EQ(::chown((s / "state").c_str(), 0, 0), 0);
  stdfs::create_directory(s / "state" / "pods");
  ASSERT_EQ(::chown((s / "state" / "pods").c_str(), other, other), 0);
  EXPECT_THAT(test::error_of([&] { check_state_dir(s / "state"); }),
              HasSubstr("'" + (s / "state" / "pods").string() + "' is owned by uid 65534, not root"));
  stdfs::remove(s / "state" / "pods");
  stdfs::create_directory_symlink(s / "state", s / "link");
  ASSERT_EQ(::lchown((s / "link").c_str(), other, other), 0);
  EXPECT_THAT(test::error_of([&] { check_state_dir(s / "link"); }),
              HasSubstr("'" + (s / "link").string() + "' is a symlink owned by uid 65534, not root"));
}

}  // namespace
}  // namespace crt
