#include "store/host_share.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::store {
namespace {

using test::read_text;
using test::Scratch;
using test::write_text;

ino_t inode(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

class HostShare : public ::testing::Test {
 protected:
  Scratch s_;
  std::filesystem::path tree_ = s_ / "tree";
  std::filesystem::path host_ = s_ / "host";
};

TEST_F(HostShare, IdenticalFilesBecomeLinksToTheHostsAndOthersStay) {
  write_text(host_ / "usr/lib/libsame.so", "same bytes");
  write_text(tree_ / "usr/lib/libsame.so", "same bytes");
  write_text(host_ / "usr/lib/libother.so", "host bytes");
  write_text(tree_ / "usr/lib/libother.so", "tree bytes");
  write_text(host_ / "usr/bin/tool", "run me", 0755);
  write_text(tree_ / "usr/bin/tool", "run me", 0644);
  write_text(tree_ / "etc/only-in-tree", "mine");
  write_text(host_ / "big", std::string(200000, 'x') + "a");
  write_text(tree_ / "big", std::string(200000, 'x') + "b");

  SharedFiles got = share_host_files(tree_, host_);

  EXPECT_EQ(got.files, 1u);
  EXPECT_EQ(got.bytes, 10u);
  EXPECT_EQ(inode(tree_ / "usr/lib/libsame.so"), inode(host_ / "usr/lib/libsame.so"));
  EXPECT_NE(inode(tree_ / "usr/lib/libother.so"), inode(host_ / "usr/lib/libother.so"));
  EXPECT_NE(inode(tree_ / "usr/bin/tool"), inode(host_ / "usr/bin/tool")) << "a different mode is not the same file";
  EXPECT_NE(inode(tree_ / "big"), inode(host_ / "big")) << "differs only in its last byte";
  EXPECT_EQ(read_text(tree_ / "usr/lib/libother.so"), "tree bytes");
  EXPECT_EQ(read_text(tree_ / "etc/only-in-tree"), "mine");
  EXPECT_EQ(test::list_dir(tree_ / "usr/lib"), (std::vector<std::string>{"libother.so", "libsame.so"}))
      << "no temporary link is left";
}

TEST_F(HostShare, HostPathsResolveInsideTheHostRoot) {
  // The host keeps its libraries under /usr/lib and links /lib to it, with
  // an absolute target that must resolve inside the host root.
  write_text(host_ / "usr/lib/libc.so", "libc");
  ASSERT_EQ(::symlink("/usr/lib", (host_ / "lib").c_str()), 0);
  write_text(tree_ / "lib/libc.so", "libc");
  // A symlink out of the host root must not reach the real file system.
  ASSERT_EQ(::symlink("/../../../../../../etc", (host_ / "etc").c_str()), 0);
  write_text(tree_ / "etc/passwd", read_text("/etc/passwd"));

  EXPECT_EQ(share_host_files(tree_, host_).files, 1u);
  EXPECT_EQ(inode(tree_ / "lib/libc.so"), inode(host_ / "usr/lib/libc.so"));
  EXPECT_NE(inode(tree_ / "etc/passwd"), inode("/etc/passwd"));
}

TEST_F(HostShare, SymlinksEmptyFilesLinksWithinTheTreeAndFifosAreLeftAlone) {
  write_text(host_ / "target", "t");
  write_text(tree_ / "target", "other");
  ASSERT_EQ(::symlink("target", (host_ / "link").c_str()), 0);
  ASSERT_EQ(::symlink("target", (tree_ / "link").c_str()), 0);
  write_text(host_ / "empty", "");
  write_text(tree_ / "empty", "");
  write_text(host_ / "a", "twice");
  write_text(tree_ / "a", "twice");
  ASSERT_EQ(::link((tree_ / "a").c_str(), (tree_ / "b").c_str()), 0);
  ASSERT_EQ(::mkfifo((host_ / "fifo").c_str(), 0644), 0);
  write_text(tree_ / "fifo", "not a fifo");

  EXPECT_EQ(share_host_files(tree_, host_).files, 0u);
  EXPECT_NE(inode(tree_ / "empty"), inode(host_ / "empty"));
  EXPECT_EQ(inode(tree_ / "a"), inode(tree_ / "b")) << "the tree's own hard link stays";
  struct stat st {};
  ASSERT_EQ(::lstat((tree_ / "link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(HostShare, FilesWithXattrsAreNotShared) {
  write_text(host_ / "f", "bytes");
  write_text(tree_ / "f", "bytes");
  if (::setxattr((tree_ / "f").c_str(), "user.crt-test", "1", 1, 0) < 0)
    GTEST_SKIP() << "no user xattrs on this file system";
  EXPECT_EQ(share_host_files(tree_, host_).files, 0u);
  EXPECT_NE(inode(tree_ / "f"), inode(host_ / "f"));
}

TEST_F(HostShare, AMissingHostRootIsAnError) {
  write_text(tree_ / "f", "bytes");
  EXPECT_THROW(share_host_files(tree_, s_ / "nowhere"), Error);
}

}  // namespace
}  // namespace crt::store
