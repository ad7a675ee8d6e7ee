#include "store/layer_view.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "test_support.hpp"

namespace crt::store {
namespace {

using test::Scratch;
using test::write_text;

/// Three trees, the topmost first, as an overlay's upper directory and two
/// image layers.
class LayerView : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"upper", "top", "base"}) stdfs::create_directories(s_ / d);
  }
  [[nodiscard]] std::vector<stdfs::path> dirs() const { return {s_ / "upper", s_ / "top", s_ / "base"}; }
  [[nodiscard]] std::string resolve(std::string_view p) const { return resolve_in_union(dirs(), p); }
  void link(const std::string& tree, const std::string& path, const std::string& target) const {
    stdfs::create_directories((s_ / tree / path).parent_path());
    stdfs::create_symlink(target, s_ / tree / path);
  }
  void whiteout(const std::string& tree, const std::string& path) const {
    stdfs::create_directories((s_ / tree / path).parent_path());
    if (::mknod((s_ / tree / path).c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0)
      throw std::runtime_error("mknod " + path + ": " + std::strerror(errno));
  }
  void opaque(const std::string& tree, const std::string& path) const {
    stdfs::create_directories(s_ / tree / path);
    if (::setxattr((s_ / tree / path).c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
      throw std::runtime_error("setxattr " + path + ": " + std::strerror(errno));
  }
  Scratch s_;
};

TEST_F(LayerView, PlainPathsAreCleanedAndKeptAsTheyAre) {
  write_text(s_ / "base/etc/passwd", "");
  EXPECT_EQ(resolve("/etc/passwd"), "etc/passwd");
  EXPECT_EQ(resolve("//etc/./passwd/"), "etc/passwd");
  EXPECT_EQ(resolve("/no/such/file"), "no/such/file");
  EXPECT_EQ(resolve("/"), "");
  EXPECT_EQ(resolve("/../../etc"), "etc");
}

TEST_F(LayerView, SymlinksAreFollowedInsideTheUnion) {
  // A relative link to a file that is not there (an image's resolv.conf).
  link("base", "etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
  EXPECT_EQ(resolve("/etc/resolv.conf"), "run/systemd/resolve/stub-resolv.conf");
  // A directory link in a middle layer, with an absolute target, and ".."
  // that would leave the root.
  link("top", "etc2", "/usr/etc");
  stdfs::create_directories(s_ / "base/usr/etc");
  EXPECT_EQ(resolve("/etc2/mtab"), "usr/etc/mtab");
  link("base", "up", "../../../../usr");
  EXPECT_EQ(resolve("/up/etc/x"), "usr/etc/x");
  // Links to links.
  link("base", "a", "b");
  link("base", "b", "/c/d");
  link("base", "c", "usr");
  EXPECT_EQ(resolve("/a"), "usr/d");
}

TEST_F(LayerView, UpperEntriesWhiteoutsAndOpaqueDirectoriesHideWhatIsBelow) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts (0/0 devices) and trusted.* xattrs need root";
  link("base", "etc/resolv.conf", "../run/stub");
  // The app replaced the link with a file.
  write_text(s_ / "upper/etc/resolv.conf", "");
  EXPECT_EQ(resolve("/etc/resolv.conf"), "etc/resolv.conf");
  // A layer deleted a link of the layer below.
  link("base", "var/run", "/run");
  EXPECT_EQ(resolve("/var/run/x"), "run/x");
  whiteout("top", "var/run");
  EXPECT_EQ(resolve("/var/run/x"), "var/run/x");
  // A directory made anew over one that held a link.
  link("base", "srv/data", "/data");
  EXPECT_EQ(resolve("/srv/data/f"), "data/f");
  opaque("upper", "srv");
  EXPECT_EQ(resolve("/srv/data/f"), "srv/data/f");
  // A file of a higher layer hides a directory of a lower one, links and all.
  link("base", "opt/link", "/usr");
  write_text(s_ / "top/opt", "");
  EXPECT_EQ(resolve("/opt/link"), "opt/link");
}

TEST_F(LayerView, WhatTheUnionShowsExists) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts (0/0 devices) and trusted.* xattrs need root";
  write_text(s_ / "base/etc/hosts", "");
  write_text(s_ / "base/etc/hostname", "");
  write_text(s_ / "base/srv/data/f", "");
  link("base", "lnk", "/nowhere");
  EXPECT_TRUE(exists_in_union(dirs(), "etc/hosts"));
  EXPECT_TRUE(exists_in_union(dirs(), "/etc/hosts"));
  EXPECT_TRUE(exists_in_union(dirs(), "lnk")) << "a dangling link is there";
  EXPECT_FALSE(exists_in_union(dirs(), "etc/nope"));
  EXPECT_FALSE(exists_in_union(dirs(), ""));
  whiteout("top", "etc/hosts");
  EXPECT_FALSE(exists_in_union(dirs(), "etc/hosts"));
  EXPECT_TRUE(exists_in_union(dirs(), "etc/hostname"));
  opaque("top", "srv");
  EXPECT_FALSE(exists_in_union(dirs(), "srv/data/f"));
  EXPECT_TRUE(exists_in_union(dirs(), "srv"));
}

TEST_F(LayerView, ALinkLoopEnds) {
  link("base", "loop", "loop");
  EXPECT_EQ(resolve("/loop"), "loop");
  link("base", "x", "y");
  link("base", "y", "x");
  std::string r = resolve("/x/f");
  EXPECT_TRUE(r == "x/f" || r == "y/f") << r;
}

}  // namespace
}  // namespace crt::store
