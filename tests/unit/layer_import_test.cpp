#include "store/layer_import.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "../support/oci_builder.hpp"
#include "common/error.hpp"
#include "store/digest.hpp"
#include "test_support.hpp"

namespace crt::store {
namespace {

namespace stdfs = std::filesystem;
using test::read_text;
using test::Scratch;
using test::set_mtime;
using test::tar_dir;
using test::tar_file;
using test::tar_hardlink;
using test::tar_symlink;
using test::TarMember;
using test::write_tar;
using test::write_text;

constexpr time_t kTime = 1700000000;

/// A small rootfs with every kind of entry an unprivileged user can make,
/// created in the given order so that tests can check order does not matter.
void make_rootfs(const stdfs::path& root, bool reverse) {
  stdfs::create_directory(root);
  auto files = [&] {
    write_text(root / "bin" / "tool", "#!/bin/sh\necho hi\n", 0755);
    write_text(root / "etc" / "passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644);
    write_text(root / "etc" / "secret", "s", 0600);
  };
  auto others = [&] {
    stdfs::create_directories(root / "var" / "empty");
    stdfs::create_directories(root / "etc");
    stdfs::create_symlink("/bin/tool", root / "abs-link");
    stdfs::create_symlink("../bin/tool", root / "etc" / "rel-link");
  };
  if (reverse) {
    others();
    files();
  } else {
    files();
    others();
  }
  stdfs::create_hard_link(root / "bin" / "tool", root / "bin" / "tool-hardlink");
  for (const char* p : {"abs-link", "etc/rel-link", "bin/tool", "bin/tool-hardlink", "etc/passwd", "etc/secret",
                        "var/empty", "var", "bin", "etc"})
    set_mtime(root / p, kTime);
}

mode_t mode_of(const stdfs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) < 0) throw_errno("lstat " + p.string());
  return st.st_mode;
}

ino_t inode_of(const stdfs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) < 0) throw_errno("lstat " + p.string());
  return st.st_ino;
}

TEST(UnpackRootfs, DirectoryIsCopiedFaithfully) {
  Scratch s;
  make_rootfs(s / "src", false);
  UnpackedLayer l = unpack_rootfs(s / "src", s / "dst");
  EXPECT_TRUE(is_sha256_digest(l.diff_id)) << l.diff_id;
  EXPECT_EQ(read_text(s / "dst" / "bin" / "tool"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(mode_of(s / "dst" / "bin" / "tool") & 07777, 0755u);
  EXPECT_EQ(mode_of(s / "dst" / "etc" / "secret") & 07777, 0600u);
  EXPECT_EQ(stdfs::read_symlink(s / "dst" / "abs-link"), "/bin/tool");
  EXPECT_EQ(stdfs::read_symlink(s / "dst" / "etc" / "rel-link"), "../bin/tool");
  EXPECT_TRUE(stdfs::is_directory(s / "dst" / "var" / "empty"));
  EXPECT_EQ(inode_of(s / "dst" / "bin" / "tool"), inode_of(s / "dst" / "bin" / "tool-hardlink"))
      << "hard links stay hard links";
  EXPECT_EQ(stdfs::last_write_time(s / "dst" / "etc" / "passwd"), stdfs::last_write_time(s / "src" / "etc" / "passwd"));
}

TEST(UnpackRootfs, SizeCountsFileBytesOnceForHardLinks) {
  Scratch s;
  make_rootfs(s / "src", false);
  UnpackedLayer l = unpack_rootfs(s / "src", s / "dst");
  EXPECT_EQ(l.size, std::string("#!/bin/sh\necho hi\n").size() + std::string("root:x:0:0:root:/root:/bin/sh\n").size() + 1);
}

// A sparse file (an image's volume copied for a pod, say) stays sparse: a
// file that claims terabytes of holes must not become terabytes on disk.
TEST(UnpackRootfs, HolesStayHoles) {
  Scratch s;
  stdfs::create_directory(s / "src");
  constexpr off_t kSize = 64 << 20;
  {
    int fd = ::open((s / "src" / "sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, kSize), 0);
    ASSERT_EQ(::pwrite(fd, "data", 4, kSize / 2), 4);
    ::close(fd);
  }
  UnpackedLayer l = unpack_rootfs(s / "src", s / "dst");
  struct stat st {};
  ASSERT_EQ(::stat((s / "dst" / "sparse").c_str(), &st), 0);
  // Holes are how a file is stored, not what it holds: the same tree with
  // its zeros written archives as the same layer.
  stdfs::create_directory(s / "dense");
  {
    std::string zeros(kSize, '\0');
    zeros.replace(kSize / 2, 4, "data");
    write_text(s / "dense" / "sparse", zeros, 0644);
    stdfs::last_write_time(s / "dense" / "sparse", stdfs::last_write_time(s / "dst" / "sparse"));
    stdfs::last_write_time(s / "dense", stdfs::last_write_time(s / "dst"));
  }
  EXPECT_EQ(archive_tree(s / "dense", {}).diff_id, l.diff_id);
  // Its whole MiBs of zeros are holes of the layer's entry, not zeros in it,
  // written out or not.
  for (const char* tree : {"dense", "dst"}) {
    size_t archived = 0;
    archive_tree(s / tree, [&](const void*, size_t n) { archived += n; });
    EXPECT_LT(archived, 2u << 20) << tree;
  }
  EXPECT_EQ(st.st_size, kSize);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the holes were written out";
  int fd = ::open((s / "dst" / "sparse").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  char buf[4] = {};
  EXPECT_EQ(::pread(fd, buf, 4, kSize / 2), 4);
  ::close(fd);
  EXPECT_EQ(std::string(buf, 4), "data");
}

TEST(UnpackRootfs, SameContentSameDiffIdWhateverTheCreationOrderOrPlace) {
  Scratch s;
  make_rootfs(s / "one", false);
  make_rootfs(s / "two", true);
  EXPECT_EQ(unpack_rootfs(s / "one", s / "a").diff_id, unpack_rootfs(s / "two", s / "b").diff_id);
}

TEST(UnpackRootfs, DiffIdIgnoresAccessTimes) {
  Scratch s;
  make_rootfs(s / "src", false);
  std::string first = unpack_rootfs(s / "src", s / "a").diff_id;
  struct timespec ts[2] = {{kTime + 99, 0}, {0, UTIME_OMIT}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (s / "src" / "etc" / "passwd").c_str(), ts, 0), 0);
  EXPECT_EQ(unpack_rootfs(s / "src", s / "b").diff_id, first);
}

TEST(UnpackRootfs, DiffIdChangesWithContentModeNameOrMtime) {
  Scratch s;
  make_rootfs(s / "src", false);
  std::string base = unpack_rootfs(s / "src", s / "0").diff_id;

  write_text(s / "src" / "etc" / "passwd", "root:x:0:0:root:/root:/bin/bash\n");
  set_mtime(s / "src" / "etc" / "passwd", kTime);
  std::string content = unpack_rootfs(s / "src", s / "1").diff_id;
  EXPECT_NE(content, base);

  ::chmod((s / "src" / "etc" / "passwd").c_str(), 0600);
  std::string mode = unpack_rootfs(s / "src", s / "2").diff_id;
  EXPECT_NE(mode, content);

  set_mtime(s / "src" / "etc" / "passwd", kTime + 1);
  std::string mtime = unpack_rootfs(s / "src", s / "3").diff_id;
  EXPECT_NE(mtime, mode);

  stdfs::rename(s / "src" / "etc" / "passwd", s / "src" / "etc" / "passwd2");
  set_mtime(s / "src" / "etc", kTime);
  EXPECT_NE(unpack_rootfs(s / "src", s / "4").diff_id, mtime);
}

TEST(UnpackRootfs, PlainTarball) {
  Scratch s;
  write_tar(s / "r.tar", {tar_dir("etc"), tar_file("etc/hostname", "pod\n"), tar_symlink("etc/link", "/etc/hostname"),
                          tar_file("bin/x", "x", 0755), tar_hardlink("bin/y", "bin/x")});
  UnpackedLayer l = unpack_rootfs(s / "r.tar", s / "dst");
  EXPECT_EQ(read_text(s / "dst" / "etc" / "hostname"), "pod\n");
  EXPECT_EQ(stdfs::read_symlink(s / "dst" / "etc" / "link"), "/etc/hostname");
  EXPECT_EQ(inode_of(s / "dst" / "bin" / "x"), inode_of(s / "dst" / "bin" / "y"));
  EXPECT_EQ(l.size, 5u);
}

// A rootfs's tree becomes an overlay's lower layer: overlayfs's own
// xattrs would steer that overlay, and a 0/0 device would be a whiteout
// (and a layer of it is refused when pulled: the same tree either way).
TEST(UnpackRootfs, OverlayXattrsAreDroppedAndZeroDevicesRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "trusted.* xattrs need root";
  Scratch s;
  test::TarMember d = tar_dir("d");
  d.xattrs = {{"trusted.overlay.opaque", "y"}, {"trusted.overlay.redirect", "/etc"}};
  write_tar(s / "x.tar", {d, tar_file("d/f", "f")});
  unpack_rootfs(s / "x.tar", s / "dst");
  char buf[16];
  EXPECT_LT(::lgetxattr((s / "dst" / "d").c_str(), "trusted.overlay.opaque", buf, sizeof buf), 0);
  EXPECT_LT(::lgetxattr((s / "dst" / "d").c_str(), "trusted.overlay.redirect", buf, sizeof buf), 0);
  // A directory: the same.
  stdfs::create_directories(s / "tree" / "d");
  ASSERT_EQ(::lsetxattr((s / "tree" / "d").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  unpack_rootfs(s / "tree", s / "dst2");
  EXPECT_LT(::lgetxattr((s / "dst2" / "d").c_str(), "trusted.overlay.opaque", buf, sizeof buf), 0);

  test::TarMember zero;
  zero.type = test::TarMember::Type::kZeroCharDevice;
  zero.path = "gone";
  write_tar(s / "z.tar", {tar_dir("etc"), zero});
  EXPECT_EQ(test::error_of([&] { unpack_rootfs(s / "z.tar", s / "dst3"); }),
            "'gone' in '" + (s / "z.tar").string() +
                "' is a 0/0 character device, which overlayfs would take for a whiteout");
  ASSERT_EQ(::mknod((s / "tree" / "gone").c_str(), S_IFCHR | 0644, 0), 0);
  EXPECT_EQ(
      test::error_of([&] { unpack_rootfs(s / "tree", s / "dst4"); }),
      "'" + (s / "tree" / "gone").string() + "' is a 0/0 character device, which overlayfs would take for a whiteout");
}

// A name a layer reads as a whiteout is refused as the tarball is read, naming
// the entry as the tarball has it, before the rest is unpacked.
TEST(UnpackRootfs, AWhiteoutNameInATarballIsRefusedNamingTheEntry) {
  Scratch s;
  write_tar(s / "x.tar", {tar_dir("a"), tar_file("a/.wh.b", ""), tar_file("z", "z")});
  EXPECT_EQ(test::error_of([&] { unpack_rootfs(s / "x.tar", s / "dst"); }),
            "'a/.wh.b' in '" + (s / "x.tar").string() +
                "' is named like an OCI whiteout ('.wh.'), which no layer can hold as a file");
  EXPECT_FALSE(stdfs::exists(s / "dst" / "z"));
  write_tar(s / "d.tar", {tar_dir("a/.wh.d"), tar_file("z", "z")});
  std::string dir_error = test::error_of([&] { unpack_rootfs(s / "d.tar", s / "dst2"); });
  EXPECT_EQ(dir_error.rfind("'a/.wh.d", 0), 0u) << dir_error;
  EXPECT_TRUE(dir_error.ends_with("' in '" + (s / "d.tar").string() +
                                  "' is named like an OCI whiteout ('.wh.'), which no layer can hold as a file"))
      << dir_error;
}

// What the disk writer cannot restore of an entry (an xattr the file system
// refuses) is no error, but it is said, naming the entry.
TEST(UnpackRootfs, WhatCannotBeRestoredIsAWarningNamingTheEntry) {
  Scratch s;
  test::TarMember f = tar_file("etc/f", "f");
  f.xattrs = {{"nonamespace.x", "v"}};
  write_tar(s / "x.tar", {tar_dir("etc"), f, tar_file("etc/g", "g")});
  std::vector<std::string> warnings;
  unpack_rootfs(s / "x.tar", s / "dst", {}, [&](std::string_view w) { warnings.emplace_back(w); });
  ASSERT_EQ(warnings.size(), 1u) << ::testing::PrintToString(warnings);
  EXPECT_EQ(warnings[0].rfind("warning: ignored while extracting 'etc/f': ", 0), 0u) << warnings[0];
  EXPECT_EQ(read_text(s / "dst" / "etc" / "f"), "f");
  EXPECT_EQ(read_text(s / "dst" / "etc" / "g"), "g");
}

// A later entry replaces an earlier one of its name, as an OCI layer's
// does: a directory with all it holds, by a symlink or by a file that keeps
// its own mode; a file by a directory. The same tarball is the same layer.
TEST(UnpackRootfs, ALaterEntryOfATarballReplacesAnEarlierOneOfItsName) {
  Scratch s;
  TarMember closed = tar_dir("e");
  closed.mode = 0700;
  write_tar(s / "r.tar",
            {tar_dir("a"), tar_file("a/old", "old"), tar_dir("a/sub"), tar_symlink("a", "/usr/lib"), closed,
             tar_file("e", "now a file", 0604), tar_file("f", "a file first"), tar_dir("f"), tar_file("f/in", "in")});
  UnpackedLayer l = unpack_rootfs(s / "r.tar", s / "dst");
  EXPECT_EQ(test::list_dir(s / "dst"), (std::vector<std::string>{"a", "e", "f"}));
  EXPECT_EQ(stdfs::read_symlink(s / "dst" / "a"), "/usr/lib");
  EXPECT_EQ(read_text(s / "dst" / "e"), "now a file");
  EXPECT_EQ(test::stat_of(s / "dst" / "e").st_mode & 07777, 0604u);
  EXPECT_EQ(test::stat_of(s / "dst" / "e").st_mtime, 1000000000);
  EXPECT_EQ(read_text(s / "dst" / "f" / "in"), "in");
  EXPECT_EQ(unpack_rootfs(s / "r.tar", s / "again").diff_id, l.diff_id);
}

// A tarball's ACLs (SCHILY.acl.*, as tar --acls writes them) are kept.
TEST(UnpackRootfs, ATarballsAclsAreKept) {
  Scratch s;
  TarMember f = tar_file("f", "f", 0660);
  f.acl = "user::rw-,user:1234:rw-,group::r--,mask::rw-,other::---";
  TarMember d = tar_dir("d");
  d.default_acl = "user::rwx,user:1234:r-x,group::r-x,mask::r-x,other::---";
  write_tar(s / "a.tar", {f, d});
  unpack_rootfs(s / "a.tar", s / "dst");
  EXPECT_EQ(test::acl_user_perm(s / "dst" / "f", "system.posix_acl_access", 1234), 6);
  EXPECT_EQ(test::acl_user_perm(s / "dst" / "d", "system.posix_acl_default", 1234), 5);
}

TEST(UnpackRootfs, DotSlashPrefixesDoNotChangeTheDiffId) {
  Scratch s;
  write_tar(s / "plain.tar", {tar_dir("etc"), tar_file("etc/a", "a"), tar_hardlink("etc/b", "etc/a")});
  write_tar(s / "dotted.tar", {tar_dir("./"), tar_dir("./etc"), tar_file("./etc/a", "a"), tar_hardlink("./etc/b", "./etc/a")});
  std::string plain = unpack_rootfs(s / "plain.tar", s / "p").diff_id;
  EXPECT_EQ(unpack_rootfs(s / "dotted.tar", s / "d").diff_id, plain);
  EXPECT_EQ(inode_of(s / "d" / "etc" / "a"), inode_of(s / "d" / "etc" / "b"));
}

TEST(UnpackRootfs, GzipTarballMadeByTar) {
  auto tar = test::find_program("tar");
  if (!tar) GTEST_SKIP() << "tar is not installed";
  Scratch s;
  make_rootfs(s / "src", false);
  ASSERT_EQ(test::run_command({tar->string(), "-czf", (s / "r.tar.gz").string(), "-C", (s / "src").string(), "."}).status, 0);
  unpack_rootfs(s / "r.tar.gz", s / "dst");
  EXPECT_EQ(read_text(s / "dst" / "bin" / "tool"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(stdfs::read_symlink(s / "dst" / "abs-link"), "/bin/tool");
  EXPECT_EQ(inode_of(s / "dst" / "bin" / "tool"), inode_of(s / "dst" / "bin" / "tool-hardlink"));
}

TEST(UnpackRootfs, NameSortedTarballOfADirectoryHasTheDirectorysDiffId) {
  auto tar = test::find_program("tar");
  if (!tar) GTEST_SKIP() << "tar is not installed";
  Scratch s;
  make_rootfs(s / "src", true);
  std::string dir = unpack_rootfs(s / "src", s / "d").diff_id;
  for (const char* flags : {"-cf", "-czf"}) {
    stdfs::path out = s / (std::string("r") + flags + ".tar");
    auto r = test::run_command({tar->string(), "--sort=name", flags, out.string(), "-C", (s / "src").string(), "."});
    if (r.status != 0) GTEST_SKIP() << "this tar has no --sort=name";
    EXPECT_EQ(unpack_rootfs(out, s / (std::string("x") + flags)).diff_id, dir)
        << "uncompressed, compressed or a directory: the same content is the same layer (" << flags << ")";
  }
}

/// A victim outside the destination that no hostile tarball may touch.
struct Outside {
  explicit Outside(const Scratch& s) : dir(s / "outside"), victim(dir / "victim") {
    write_text(victim, "untouched");
  }
  void expect_untouched() const {
    EXPECT_EQ(read_text(victim), "untouched");
    EXPECT_EQ(stdfs::hard_link_count(victim), 1u);
    EXPECT_EQ(test::list_dir(dir), std::vector<std::string>{"victim"});
  }
  stdfs::path dir;
  stdfs::path victim;
};

// Every refused tarball is checked in a child process: see
// FailedExtractionIsAnErrorNotACrash for why.
class HostileTarball : public ::testing::Test {
 protected:
  void expect_refused(const std::vector<test::TarMember>& members) {
    write_tar(s_ / "evil.tar", members);
    test::Outcome o = test::outcome_in_child([&] { unpack_rootfs(s_ / "evil.tar", s_ / "deep" / "er" / "dst"); });
    EXPECT_NE(o, test::Outcome::kReturned) << "the tarball was extracted";
    outside_.expect_untouched();
    EXPECT_FALSE(stdfs::exists(s_ / "evil"));
    EXPECT_FALSE(stdfs::exists(s_ / "deep" / "evil"));
    EXPECT_FALSE(stdfs::exists(s_ / "deep" / "er" / "evil"));
  }
  void SetUp() override { stdfs::create_directories(s_ / "deep" / "er"); }

  Scratch s_;
  Outside outside_{s_};
};

TEST_F(HostileTarball, DotDotPathIsRefused) { expect_refused({tar_file("../evil", "pwned")}); }

TEST_F(HostileTarball, DotDotInsideAPathIsRefused) { expect_refused({tar_dir("a"), tar_file("a/../../../evil", "pwned")}); }

// As tar takes it: the tree's, not the host's.
TEST_F(HostileTarball, AnAbsolutePathIsUnderTheTreesRoot) {
  write_tar(s_ / "abs.tar", {tar_file(outside_.victim.string(), "inside")});
  stdfs::path dst = s_ / "deep" / "er" / "dst";
  test::Outcome o = test::outcome_in_child([&] { unpack_rootfs(s_ / "abs.tar", dst); });
  EXPECT_EQ(o, test::Outcome::kReturned);
  outside_.expect_untouched();
  EXPECT_EQ(read_text(dst / outside_.victim.relative_path()), "inside");
}

TEST_F(HostileTarball, PathThroughAnAbsoluteSymlinkIsRefused) {
  expect_refused({tar_symlink("link", outside_.dir.string()), tar_file("link/victim", "pwned")});
}

TEST_F(HostileTarball, PathThroughARelativeSymlinkIsRefused) {
  expect_refused({tar_symlink("link", "../../../outside"), tar_file("link/victim", "pwned")});
}

TEST_F(HostileTarball, PathThroughANestedSymlinkChainIsRefused) {
  expect_refused({tar_dir("a"), tar_symlink("a/up", ".."), tar_symlink("b", "a/up/../../../outside"),
                  tar_file("b/new", "pwned")});
}

TEST_F(HostileTarball, HardLinkToAnAbsoluteHostPathIsRefused) {
  expect_refused({tar_hardlink("h", outside_.victim.string()), tar_file("h", "pwned")});
}

TEST_F(HostileTarball, HardLinkOutOfTheTreeIsRefused) {
  expect_refused({tar_hardlink("h", "../../../outside/victim")});
}

TEST_F(HostileTarball, HardLinkThroughASymlinkIsRefused) {
  expect_refused({tar_symlink("l", outside_.dir.string()), tar_hardlink("h", "l/victim")});
}

TEST(UnpackRootfs, ExistingDestinationIsAnError) {
  Scratch s;
  make_rootfs(s / "src", false);
  stdfs::create_directory(s / "dst");
  EXPECT_THROW(unpack_rootfs(s / "src", s / "dst"), Error);
}

TEST(UnpackRootfs, MissingSourceIsAnError) {
  Scratch s;
  EXPECT_THROW(unpack_rootfs(s / "none", s / "dst"), Error);
  EXPECT_FALSE(stdfs::exists(s / "dst"));
}

TEST(UnpackRootfs, FailedExtractionIsAnErrorNotACrash) {
  Scratch s;
  stdfs::create_directories(s / "outside");
  write_text(s / "notes.txt", std::string(2048, 'x'));
  EXPECT_THROW(unpack_rootfs(s / "notes.txt", s / "a"), Error);
  write_tar(s / "evil.tar", {tar_file("../evil", "pwned")});
  stdfs::path cwd = stdfs::current_path();
  EXPECT_THROW(unpack_rootfs(s / "evil.tar", s / "b"), Error);
  EXPECT_EQ(stdfs::current_path(), cwd) << "the working directory is restored";
  write_tar(s / "link.tar", {tar_symlink("l", (s / "outside").string()), tar_file("l/x", "pwned")});
  EXPECT_THROW(unpack_rootfs(s / "link.tar", s / "c"), Error);
  ASSERT_EQ(::mkfifo((s / "fifo").c_str(), 0600), 0);
  EXPECT_THROW(unpack_rootfs(s / "fifo", s / "d"), Error);
}

TEST(UnpackRootfs, NotATarballIsRefused) {
  Scratch s;
  write_text(s / "notes.txt", std::string(2048, 'x'));
  EXPECT_NE(test::outcome_in_child([&] { unpack_rootfs(s / "notes.txt", s / "dst"); }), test::Outcome::kReturned);
}

TEST(UnpackRootfs, FifoSourceIsRefused) {
  Scratch s;
  ASSERT_EQ(::mkfifo((s / "fifo").c_str(), 0600), 0);
  EXPECT_NE(test::outcome_in_child([&] { unpack_rootfs(s / "fifo", s / "dst"); }), test::Outcome::kReturned);
}

TEST(UnpackRootfs, RelativeSourcePathWorks) {
  Scratch s;
  make_rootfs(s / "src", false);
  stdfs::path cwd = stdfs::current_path();
  stdfs::current_path(s.path());
  UnpackedLayer l;
  EXPECT_NO_THROW(l = unpack_rootfs("src", s / "dst"));
  stdfs::current_path(cwd);
  EXPECT_EQ(read_text(s / "dst" / "etc" / "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
}

// A directory whose owner swaps one of its subdirectories for a symlink to
// another place while it is imported (as a pod's app can with its own files
// while its pod is exported): what the walk reads stays inside the tree,
// never the place the symlink names.
TEST(UnpackRootfs, ASubdirectorySwappedForASymlinkMidWalkNeverLeadsOutOfTheTree) {
  Scratch s;
  write_text(s / "secret" / "f", "SECRET");
  write_text(s / "src" / "a" / "f", "public");
  for (int i = 0; i < 20; ++i) write_text(s / "src" / "a" / ("g" + std::to_string(i)), "public");
  stdfs::create_directory_symlink(s / "secret", s / "src" / "b");
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    std::string a = (s / "src" / "a").string();
    std::string b = (s / "src" / "b").string();
    while (!stop) ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
  });
  int leaks = 0;
  int imports = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int i = 0; i < 400 && std::chrono::steady_clock::now() < until; ++i) {
    stdfs::path dst = s / ("dst" + std::to_string(i));
    try {
      unpack_rootfs(s / "src", dst);
      ++imports;
    } catch (const std::exception&) {  // a change seen mid-walk may be an error, never a way out
    }
    for (const auto& e : stdfs::recursive_directory_iterator(dst))
      if (e.is_regular_file() && read_text(e.path()) == "SECRET") ++leaks;
    stdfs::remove_all(dst);
  }
  stop = true;
  swapper.join();
  EXPECT_EQ(leaks, 0) << "of " << imports << " imports";
}

/// A chain of `depth` directories "d" under `root`, each with a file "e"
/// (which the walk reads after "d", back up from below) saying its depth.
stdfs::path make_deep_tree(const stdfs::path& root, int depth) {
  stdfs::path dir = root;
  for (int i = 0; i < depth; ++i) {
    write_text(dir / "e", std::to_string(i));
    dir /= "d";
  }
  write_text(dir / "f", "deepest");
  return dir;
}

/// What `body` throws, with the soft limit on open files at `limit`.
std::string error_with_open_file_limit(rlim_t limit, const std::function<void()>& body) {
  struct rlimit was {};
  if (::getrlimit(RLIMIT_NOFILE, &was) < 0) throw_errno("getrlimit");
  struct rlimit low = was;
  low.rlim_cur = limit;
  if (::setrlimit(RLIMIT_NOFILE, &low) < 0) throw_errno("setrlimit");
  std::string error;
  try {
    body();
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_NOFILE, &was);
  return error;
}

// A descriptor for each level of the tree would run out far above its
// deepest file.
TEST(UnpackRootfs, ATreeDeeperThanTheOpenFileLimitIsImportedWhole) {
  Scratch s;
  constexpr int kDepth = 200;
  stdfs::path deepest = make_deep_tree(s / "src", kDepth);
  UnpackedLayer l;
  EXPECT_EQ(error_with_open_file_limit(64, [&] { l = unpack_rootfs(s / "src", s / "dst"); }), "");
  EXPECT_EQ(read_text(s / "dst" / stdfs::relative(deepest, s / "src") / "f"), "deepest");
  stdfs::path dir = s / "dst";
  for (int i = 0; i < kDepth; dir /= "d", ++i) EXPECT_EQ(read_text(dir / "e"), std::to_string(i));
  EXPECT_EQ(archive_tree(s / "dst", {}).diff_id, l.diff_id) << "the copy archives otherwise";
}

// Back up from below the levels it keeps open, the walk opens a level again
// as ".." of the one below it: once that one has been moved out of it, ".."
// is another directory, whose files would be read as the level's.
TEST(UnpackRootfs, ADirectoryMovedOutOfItsParentDuringADeepWalkIsAnError) {
  Scratch s;
  make_deep_tree(s / "src", 100);
  int calls = 0;
  auto move_when_deep = [&] {
    // Called before each entry: the 90th is 90 levels down.
    if (++calls == 90) stdfs::rename(s / "src" / "d" / "d", s / "src" / "moved");
    return false;
  };
  std::string error;
  try {
    unpack_rootfs(s / "src", s / "dst", move_when_deep);
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_THAT(error,
              testing::HasSubstr(quote((s / "src" / "d" / "d").string()) + " was moved while it was being read"));
}

}  // namespace
}  // namespace crt::store
