#include "mount/in_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "test_support.hpp"

namespace crt::mount {
namespace {

namespace stdfs = std::filesystem;
using test::list_dir;
using test::read_text;
using test::Scratch;
using test::write_text;
using Strings = std::vector<std::string>;

/// A rootfs in a temp dir with a host directory beside it that nothing may
/// touch.
class InRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    stdfs::create_directories(root());
    write_text(host() / "victim", "untouched");
    fd_ = fs::open_fd(root(), O_RDONLY | O_DIRECTORY);
  }
  [[nodiscard]] stdfs::path root() const { return s_ / "root"; }
  [[nodiscard]] stdfs::path host() const { return s_ / "host"; }
  void expect_host_untouched() const {
    EXPECT_EQ(list_dir(host()), Strings{"victim"});
    EXPECT_EQ(read_text(host() / "victim"), "untouched");
    EXPECT_EQ(list_dir(s_.path()), (Strings{"host", "root"}));
  }
  /// The path an fd refers to.
  static stdfs::path where(const UniqueFd& fd) { return stdfs::read_symlink(fd_path(fd.get())); }

  Scratch s_;
  UniqueFd fd_;
};

TEST_F(InRoot, MakesNestedDirectories) {
  UniqueFd d = make_dir_in_root(fd_.get(), "/a/b/c", 0750);
  EXPECT_EQ(where(d), root() / "a" / "b" / "c");
  struct stat st {};
  ASSERT_EQ(::stat((root() / "a" / "b" / "c").c_str(), &st), 0);
  mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0750u & ~mask);
  EXPECT_EQ(where(make_dir_in_root(fd_.get(), "a/b/c/")), root() / "a" / "b" / "c") << "existing is fine";
}

TEST_F(InRoot, RootItself) {
  EXPECT_EQ(where(make_dir_in_root(fd_.get(), "/")), root());
  EXPECT_EQ(where(make_dir_in_root(fd_.get(), "")), root());
  EXPECT_EQ(where(make_dir_in_root(fd_.get(), ".")), root());
}

TEST_F(InRoot, DotDotIsRefused) {
  EXPECT_THROW(make_dir_in_root(fd_.get(), "/a/.."), Error);
  EXPECT_THROW(make_dir_in_root(fd_.get(), "../evil"), Error);
  EXPECT_THROW(make_dir_in_root(fd_.get(), "a/../../evil"), Error);
  expect_host_untouched();
}

// A link whose ".." climbs above the top, on the way to a path: found,
// named as in the tree; links that stay inside, or are absolute, are not.
TEST_F(InRoot, FindsALinkThatClimbsAboveTheTop) {
  auto climbing = [&](const std::string& path) {
    auto link = link_climbing_above_top(fd_.get(), path);
    return link ? link->path + " -> " + link->target : std::string("none");
  };
  stdfs::create_directories(root() / "tmp");
  EXPECT_EQ(climbing("/run/systemd/incoming"), "none") << "missing";
  stdfs::create_symlink("../../../tmp", root() / "run");
  EXPECT_EQ(climbing("/run/systemd/incoming"), "/run -> ../../../tmp");
  stdfs::remove(root() / "run");
  stdfs::create_symlink("../../run", root() / "run");  // a loop, in a chroot
  EXPECT_EQ(climbing("/run/systemd/incoming"), "/run -> ../../run");
  stdfs::remove(root() / "run");
  stdfs::create_symlink("/tmp", root() / "run");
  EXPECT_EQ(climbing("/run/systemd/incoming"), "none");
  stdfs::remove(root() / "run");
  stdfs::create_symlink("tmp/../tmp", root() / "run");
  EXPECT_EQ(climbing("/run/systemd/incoming"), "none");
  stdfs::remove(root() / "run");
  // Further down, and through a link that stays inside to one that does not.
  stdfs::create_directories(root() / "run");
  stdfs::create_symlink("../../../../tmp/systemd", root() / "run" / "systemd");
  EXPECT_EQ(climbing("/run/systemd/incoming"), "/run/systemd -> ../../../../tmp/systemd");
  EXPECT_EQ(climbing("/run/other"), "none");
  stdfs::remove_all(root() / "run");
  stdfs::create_directories(root() / "a" / "b");
  stdfs::create_symlink("a/b/up", root() / "run");
  stdfs::create_symlink("../../..", root() / "a" / "b" / "up");
  EXPECT_EQ(climbing("/run/systemd"), "/a/b/up -> ../../..");
  // Loops end the walk.
  stdfs::remove(root() / "run");
  stdfs::create_symlink("run", root() / "run");
  EXPECT_EQ(climbing("/run/systemd"), "none");
}

TEST_F(InRoot, FileInTheWayIsAnError) {
  write_text(root() / "etc", "a file");
  EXPECT_THROW(make_dir_in_root(fd_.get(), "/etc/crt"), Error);
}

TEST_F(InRoot, AbsoluteSymlinkToAHostPathStaysInside) {
  stdfs::create_symlink(host(), root() / "escape");
  try {
    UniqueFd d = make_dir_in_root(fd_.get(), "/escape/evil");
    EXPECT_EQ(where(d).string().rfind(root().string() + "/", 0), 0u) << where(d);
  } catch (const Error&) {
    // Refusing is fine too: host() does not exist inside the root.
  }
  expect_host_untouched();
}

TEST_F(InRoot, AbsoluteSymlinkFollowedInsideTheRoot) {
  stdfs::create_directories(root() / "real");
  stdfs::create_symlink("/real", root() / "link");
  EXPECT_EQ(where(make_dir_in_root(fd_.get(), "/link/sub")), root() / "real" / "sub");
}

TEST_F(InRoot, EtcSymlinkToHostEtcStaysInside) {
  stdfs::create_symlink("/etc", root() / "etc");
  EXPECT_ANY_THROW(make_dir_in_root(fd_.get(), "/etc/crt-must-not-exist")) << "/etc points at itself inside the root";
  bool escaped = stdfs::exists("/etc/crt-must-not-exist");
  if (escaped) stdfs::remove("/etc/crt-must-not-exist");
  EXPECT_FALSE(escaped) << "created a directory in the host's /etc";
}

TEST_F(InRoot, DotDotSymlinkChainNeverClimbsOut) {
  stdfs::create_directories(root() / "a" / "b");
  stdfs::create_symlink("../../../../../../../..", root() / "a" / "b" / "up");
  stdfs::create_symlink("a/b/up/../../host", root() / "up2");
  UniqueFd d = make_dir_in_root(fd_.get(), "/a/b/up/evil");
  EXPECT_EQ(where(d), root() / "evil") << "'..' stops at the root";
  try {
    make_dir_in_root(fd_.get(), "/up2/evil");
  } catch (const Error&) {
  }
  expect_host_untouched();
}

TEST_F(InRoot, MakesAFileAndItsParents) {
  UniqueFd f = make_file_in_root(fd_.get(), "/etc/hosts", 0600);
  EXPECT_EQ(where(f), root() / "etc" / "hosts");
  EXPECT_EQ(read_text(root() / "etc" / "hosts"), "");
  struct stat st {};
  ASSERT_EQ(::stat((root() / "etc" / "hosts").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(InRoot, ExistingFileIsKeptAsItIs) {
  write_text(root() / "etc" / "hosts", "image's own");
  make_file_in_root(fd_.get(), "/etc/hosts");
  EXPECT_EQ(read_text(root() / "etc" / "hosts"), "image's own");
}

TEST_F(InRoot, DanglingAbsoluteSymlinkCreatesNothingOnTheHost) {
  stdfs::create_directories(root() / "etc");
  stdfs::create_symlink(host() / "created", root() / "etc" / "resolv.conf");
  try {
    UniqueFd f = make_file_in_root(fd_.get(), "/etc/resolv.conf");
    EXPECT_EQ(where(f).string().rfind(root().string() + "/", 0), 0u) << where(f);
  } catch (const Error&) {
  }
  expect_host_untouched();
}

TEST_F(InRoot, SymlinkToAHostFileIsNeverOpened) {
  stdfs::create_directories(root() / "etc");
  stdfs::create_symlink(host() / "victim", root() / "etc" / "hostname");
  try {
    UniqueFd f = make_file_in_root(fd_.get(), "/etc/hostname");
    EXPECT_NE(where(f), host() / "victim");
  } catch (const Error&) {
  }
  expect_host_untouched();
}

TEST_F(InRoot, DanglingRelativeSymlinkChainCreatesInsideTheRoot) {
  stdfs::create_directories(root() / "etc");
  stdfs::create_symlink("../../../../../../created", root() / "etc" / "mtab");
  UniqueFd f = make_file_in_root(fd_.get(), "/etc/mtab");
  EXPECT_EQ(where(f), root() / "created");
  expect_host_untouched();
}

TEST_F(InRoot, DanglingSymlinkIntoMissingDirectoriesCreatesThemInsideTheRoot) {
  // An image made with systemd-resolved: its resolv.conf points into /run.
  stdfs::create_directories(root() / "etc");
  stdfs::create_symlink("../run/systemd/resolve/stub-resolv.conf", root() / "etc" / "resolv.conf");
  // A chain: an absolute link to a relative one, past the top.
  stdfs::create_symlink("/etc/hosts.real", root() / "etc" / "hosts");
  stdfs::create_symlink("../../../net/hosts", root() / "etc" / "hosts.real");
  UniqueFd f = make_file_in_root(fd_.get(), "/etc/resolv.conf");
  EXPECT_EQ(where(f), root() / "run" / "systemd" / "resolve" / "stub-resolv.conf");
  f = make_file_in_root(fd_.get(), "/etc/hosts");
  EXPECT_EQ(where(f), root() / "net" / "hosts");
  // A loop is an error, not a hang.
  stdfs::create_symlink("b", root() / "a");
  stdfs::create_symlink("a", root() / "b");
  EXPECT_THROW(make_file_in_root(fd_.get(), "/a"), Error);
  expect_host_untouched();
}

TEST_F(InRoot, DanglingSymlinkIsResolvedAsTheKernelResolvesIt) {
  // ".." after a symlink goes up from where the symlink leads, not from
  // where it is.
  stdfs::create_directories(root() / "x" / "y");
  stdfs::create_directories(root() / "etc");
  stdfs::create_symlink("x/y", root() / "a");
  stdfs::create_symlink("../a/../b", root() / "etc" / "relative");
  stdfs::create_symlink("/a/../c/./d", root() / "etc" / "absolute");
  UniqueFd f = make_file_in_root(fd_.get(), "/etc/relative");
  EXPECT_EQ(where(f), root() / "x" / "b");
  EXPECT_TRUE(stdfs::is_regular_file(root() / "etc" / "relative")) << "the link leads to what was made";
  EXPECT_FALSE(stdfs::exists(root() / "b"));
  f = make_file_in_root(fd_.get(), "/etc/absolute");
  EXPECT_EQ(where(f), root() / "x" / "c" / "d");
  expect_host_untouched();
}

// A directory mount point that is a dangling symlink (an image's /data
// pointing to /srv/data): what it points to is made inside the tree, as
// for a file.
TEST_F(InRoot, DanglingSymlinkToADirectoryMakesItInsideTheRoot) {
  stdfs::create_symlink("/srv/data", root() / "data");
  stdfs::create_symlink(host() / "made", root() / "escape");
  stdfs::create_symlink("../../lib/x", root() / "chain");
  stdfs::create_directories(root() / "usr");
  stdfs::create_symlink("/chain", root() / "usr" / "lib");  // a parent of the path
  UniqueFd d = make_dir_in_root(fd_.get(), "/data");
  EXPECT_EQ(where(d), root() / "srv" / "data");
  EXPECT_TRUE(stdfs::is_directory(root() / "srv" / "data"));
  d = make_dir_in_root(fd_.get(), "/escape/sub");
  EXPECT_EQ(where(d), root() / host().relative_path() / "made" / "sub");
  d = make_dir_in_root(fd_.get(), "/usr/lib/y");
  EXPECT_EQ(where(d), root() / "lib" / "x" / "y");
  // A loop is an error, not a hang; so is a chain of dangling links longer
  // than crt follows (the kernel would follow 40).
  stdfs::create_symlink("/b", root() / "a");
  stdfs::create_symlink("/a", root() / "b");
  EXPECT_THROW(make_dir_in_root(fd_.get(), "/a"), Error);
  for (int i = 0; i < 9; ++i) stdfs::create_symlink("/l" + std::to_string(i + 1), root() / ("l" + std::to_string(i)));
  EXPECT_THROW(make_dir_in_root(fd_.get(), "/l0"), Error);
  EXPECT_FALSE(stdfs::exists(root() / "l9"));
  expect_host_untouched();
}

TEST(FdPath, NamesTheDescriptor) { EXPECT_EQ(fd_path(7), "/proc/self/fd/7"); }

}  // namespace
}  // namespace crt::mount
