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
using test::set_mtime;
using test::stat_of;
using test::write_text;

ino_t inode(const std::filesystem::path& p) { return stat_of(p).st_ino; }

class HostShare : public ::testing::Test {
 protected:
  Scratch s_;
  std::filesystem::path tree_ = s_ / "tree";
  std::filesystem::path host_ = s_ / "host";

  /// The same file in the tree and on the host, with the same mtime.
  void twin(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    write_text(tree_ / rel, content, mode);
    write_text(host_ / rel, content, mode);
    set_mtime(tree_ / rel, 1000);
    set_mtime(host_ / rel, 1000);
  }
};

TEST_F(HostShare, IdenticalFilesBecomeLinksToTheHostsAndOthersStay) {
  twin("usr/lib/libsame.so", "same bytes");
  twin("usr/lib/libother.so", "host bytes");
  write_text(tree_ / "usr/lib/libother.so", "tree bytes");
  set_mtime(tree_ / "usr/lib/libother.so", 1000);
  twin("usr/bin/tool", "run me", 0755);
  ASSERT_EQ(::chmod((tree_ / "usr/bin/tool").c_str(), 0644), 0);
  twin("usr/lib/newer", "bytes");
  set_mtime(host_ / "usr/lib/newer", 2000);
  twin("usr/big", std::string(200000, 'x') + "a");
  write_text(tree_ / "usr/big", std::string(200000, 'x') + "b");
  set_mtime(tree_ / "usr/big", 1000);
  write_text(tree_ / "usr/only-in-tree", "mine");
  set_mtime(tree_ / "usr/lib", 500);

  SharedFiles got = share_host_files(tree_, host_);

  EXPECT_EQ(got.files, 1u);
  EXPECT_EQ(got.bytes, 10u);
  EXPECT_EQ(inode(tree_ / "usr/lib/libsame.so"), inode(host_ / "usr/lib/libsame.so"));
  EXPECT_NE(inode(tree_ / "usr/lib/libother.so"), inode(host_ / "usr/lib/libother.so"));
  EXPECT_NE(inode(tree_ / "usr/bin/tool"), inode(host_ / "usr/bin/tool")) << "a different mode is not the same file";
  EXPECT_NE(inode(tree_ / "usr/lib/newer"), inode(host_ / "usr/lib/newer")) << "nor is a different mtime";
  EXPECT_NE(inode(tree_ / "usr/big"), inode(host_ / "usr/big")) << "differs only in its last byte";
  EXPECT_EQ(read_text(tree_ / "usr/lib/libother.so"), "tree bytes");
  EXPECT_EQ(read_text(tree_ / "usr/only-in-tree"), "mine");
  EXPECT_EQ(test::list_dir(tree_ / "usr/lib"), (std::vector<std::string>{"libother.so", "libsame.so", "newer"}))
      << "no temporary link is left";
  EXPECT_EQ(stat_of(tree_ / "usr/lib").st_mtime, 500) << "the directory keeps its time";
}

TEST_F(HostShare, OnlyFilesUnderUsrWithoutSetuidOrSetgidAreShared) {
  twin("etc/config", "same");
  twin("usr/bin/su", "same", 04755);
  twin("usr/bin/wall", "same", 02755);
  twin("usr/lib/lib.so", "same");
  EXPECT_EQ(share_host_files(tree_, host_).files, 1u);
  EXPECT_NE(inode(tree_ / "etc/config"), inode(host_ / "etc/config"));
  EXPECT_NE(inode(tree_ / "usr/bin/su"), inode(host_ / "usr/bin/su"));
  EXPECT_NE(inode(tree_ / "usr/bin/wall"), inode(host_ / "usr/bin/wall"));
  EXPECT_EQ(inode(tree_ / "usr/lib/lib.so"), inode(host_ / "usr/lib/lib.so"));
}

TEST_F(HostShare, HostPathsResolveInsideTheHostRoot) {
  // The host keeps its library in /usr/lib/real and links to it with an
  // absolute target, which must resolve inside the host root.
  write_text(host_ / "usr/lib/real/libc.so", "libc");
  set_mtime(host_ / "usr/lib/real/libc.so", 1000);
  ASSERT_EQ(::symlink("/usr/lib/real/libc.so", (host_ / "usr/lib/libc.so").c_str()), 0);
  write_text(tree_ / "usr/lib/libc.so", "libc");
  set_mtime(tree_ / "usr/lib/libc.so", 1000);
  // An identical file outside the host root, reached by a link that climbs
  // out of it, must not be found.
  write_text(s_ / "outside/lib.so", "outside");
  set_mtime(s_ / "outside/lib.so", 1000);
  write_text(tree_ / "usr/share/lib.so", "outside");
  set_mtime(tree_ / "usr/share/lib.so", 1000);
  ASSERT_EQ(::symlink("../../outside", (host_ / "usr/share").c_str()), 0);
  ASSERT_EQ(read_text(host_ / "usr/share/lib.so"), "outside") << "the link does leave the host root";

  EXPECT_EQ(share_host_files(tree_, host_).files, 1u);
  EXPECT_EQ(inode(tree_ / "usr/lib/libc.so"), inode(host_ / "usr/lib/real/libc.so"));
  EXPECT_NE(inode(tree_ / "usr/share/lib.so"), inode(s_ / "outside/lib.so"));
}

TEST_F(HostShare, AHostFileStandsInOnceSoTheTreeGainsNoHardLinks) {
  twin("usr/lib/a.so", "same");
  write_text(tree_ / "usr/lib64/a.so", "same");
  set_mtime(tree_ / "usr/lib64/a.so", 1000);
  ASSERT_EQ(::symlink("lib", (host_ / "usr/lib64").c_str()), 0);
  EXPECT_EQ(share_host_files(tree_, host_).files, 1u);
  EXPECT_NE(inode(tree_ / "usr/lib/a.so"), inode(tree_ / "usr/lib64/a.so"));
}

TEST_F(HostShare, SymlinksEmptyFilesLinksWithinTheTreeAndFifosAreLeftAlone) {
  twin("usr/target", "t");
  write_text(tree_ / "usr/target", "other");
  ASSERT_EQ(::symlink("target", (host_ / "usr/link").c_str()), 0);
  ASSERT_EQ(::symlink("target", (tree_ / "usr/link").c_str()), 0);
  twin("usr/empty", "");
  twin("usr/a", "twice");
  ASSERT_EQ(::link((tree_ / "usr/a").c_str(), (tree_ / "usr/b").c_str()), 0);
  ASSERT_EQ(::mkfifo((host_ / "usr/fifo").c_str(), 0644), 0);
  write_text(tree_ / "usr/fifo", "not a fifo");

  EXPECT_EQ(share_host_files(tree_, host_).files, 0u);
  EXPECT_NE(inode(tree_ / "usr/empty"), inode(host_ / "usr/empty"));
  EXPECT_EQ(inode(tree_ / "usr/a"), inode(tree_ / "usr/b")) << "the tree's own hard link stays";
  EXPECT_TRUE(S_ISLNK(stat_of(tree_ / "usr/link").st_mode));
}

TEST_F(HostShare, FilesWithXattrsAreNotShared) {
  twin("usr/f", "bytes");
  if (::setxattr((tree_ / "usr/f").c_str(), "user.crt-test", "1", 1, 0) < 0)
    GTEST_SKIP() << "no user xattrs on this file system";
  EXPECT_EQ(share_host_files(tree_, host_).files, 0u);
  EXPECT_NE(inode(tree_ / "usr/f"), inode(host_ / "usr/f"));
}

TEST_F(HostShare, AMissingHostRootIsAnError) {
  write_text(tree_ / "usr/f", "bytes");
  EXPECT_THROW(share_host_files(tree_, s_ / "nowhere"), Error);
}

}  // namespace
}  // namespace crt::store
