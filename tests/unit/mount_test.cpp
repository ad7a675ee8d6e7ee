// lib/mount: overlays' options and mounts, and the pod's mount namespace.

#include "mount/overlay.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "common/error.hpp"
#include "mount/mounts.hpp"
#include "test_support.hpp"

namespace crt::mount {
namespace {

TEST(OverlayOptions, HighestLayerFirst) {
  EXPECT_EQ(overlay_options({"/s/trees/l1", "/s/trees/l2", "/s/trees/l3"}, "/p/upper", "/p/work"),
            "lowerdir=/s/trees/l3:/s/trees/l2:/s/trees/l1,upperdir=/p/upper,workdir=/p/work");
}

TEST(OverlayOptions, ARepeatedLayerIsGivenOnceWhereItIsHighest) {
  EXPECT_EQ(overlay_options({"/t/base", "/t/empty", "/t/x", "/t/y", "/t/x", "/t/empty"}, "/u", "/w"),
            "lowerdir=/t/empty:/t/x:/t/y:/t/base,upperdir=/u,workdir=/w");
}

TEST(OverlayOptions, SingleLayer) {
  EXPECT_EQ(overlay_options({"/l"}, "/u", "/w"), "lowerdir=/l,upperdir=/u,workdir=/w");
}

TEST(OverlayOptions, SeparatorsInPathsAreEscaped) {
  EXPECT_EQ(overlay_options({"/a:b", "/c,d"}, "/u\\v", "/w,x:y"),
            "lowerdir=/c\\,d:/a\\:b,upperdir=/u\\\\v,workdir=/w\\,x\\:y");
}

TEST(OverlayOptions, OtherCharactersPassThrough) {
  EXPECT_EQ(overlay_options({"/my dir/.x/-y=%$"}, "/u", "/w"), "lowerdir=/my dir/.x/-y=%$,upperdir=/u,workdir=/w");
}

// What the kernel shows of options given so reads back as the paths.
TEST(OverlayOptions, EscapedPathsReadBack) {
  std::string opts = overlay_options({"/a:b", "/c,d\\e", "/f"}, "/u:v\\w", "/w");
  std::string lower = opts.substr(9, opts.find(",upperdir=") - 9);
  EXPECT_EQ(split_lowerdir(lower), (std::vector<std::string>{"/f", "/c,d\\e", "/a:b"}));
  EXPECT_EQ(unescape_option_path("/u\\:v\\\\w"), "/u:v\\w");
  EXPECT_EQ(split_lowerdir("/x"), std::vector<std::string>{"/x"});
  EXPECT_EQ(split_lowerdir("/x\\"), std::vector<std::string>{"/x\\"});  // a backslash at the end stays
}

TEST(OverlayOptions, NoLayerIsAnError) { EXPECT_THROW(overlay_options({}, "/u", "/w"), Error); }

// Where '/' is no mount point (a chroot into a plain directory), the pod's
// mount namespace cannot be made private: the error says why and what to do.
TEST(MountNamespace, ARootThatIsNoMountPointIsExplained) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  test::Scratch s;
  std::filesystem::create_directories(s / "root" / "proc");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    if (::unshare(CLONE_NEWNS) < 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0 ||
        ::mount("proc", (s / "root" / "proc").c_str(), "proc", 0, nullptr) < 0 || ::chroot((s / "root").c_str()) < 0 ||
        ::chdir("/") < 0)
      out = "setup failed";
    else
      out = test::error_of([] { enter_private_mount_namespace(); });
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  EXPECT_THAT(out, ::testing::HasSubstr("'/' is no mount point here (a chroot?)"));
  EXPECT_THAT(out, ::testing::HasSubstr("mount --bind DIR DIR"));
}

/// Linux 6.8 or later: overlays take their layers one by one (lowerdir+).
bool kernel_takes_layers_one_by_one() {
  utsname u{};
  int major = 0, minor = 0;
  return ::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
         (major > 6 || (major == 6 && minor >= 8));
}

// Before Linux 6.8, an image whose layer paths fill more than one page of
// options is mounted with its layers named by descriptor; they stack the
// same way.
TEST(MountOverlay, LayersNamedByDescriptorStackAsTheirPathsDo) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  test::Scratch s;
  std::vector<std::filesystem::path> lowers;
  for (int i = 0; i < 61; ++i) {
    lowers.push_back(s / ("layer-" + std::string(70, 'x') + "-" + std::to_string(i)));
    test::write_text(lowers.back() / "f", std::to_string(i));
    test::write_text(lowers.back() / ("only-" + std::to_string(i)), "");
  }
  lowers.push_back(lowers.front());  // a repeat: given once, where it is highest
  for (const char* d : {"upper", "work", "merged"}) std::filesystem::create_directory(s / d);
  ASSERT_GE(overlay_options(lowers, s / "upper", s / "work").size(), 4096U);
  mount_overlay_through_fds(lowers, s / "upper", s / "work", s / "merged");
  EXPECT_EQ(test::read_text(s / "merged" / "f"), "0");
  EXPECT_TRUE(std::filesystem::exists(s / "merged" / "only-1"));
  EXPECT_TRUE(std::filesystem::exists(s / "merged" / "only-60"));
  test::write_text(s / "merged" / "new", "x");
  EXPECT_EQ(test::read_text(s / "upper" / "new"), "x");
  EXPECT_EQ(::umount2((s / "merged").c_str(), MNT_DETACH), 0);
}

// Paths holding the options' separators and escape (':' ',' '\\'), in an
// overlay mounted at once and in one of more layers than one page of
// options holds (layer by layer from 6.8): the layers stack, and writes go
// to the upper layer.
TEST(MountOverlay, PathsWithSeparatorsAndBackslashesMount) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  for (int layers : {2, 61}) {
    test::Scratch s;
    std::filesystem::path odd = s / "a:b,c\\d";
    std::vector<std::filesystem::path> lowers;
    for (int i = 0; i < layers; ++i) {
      lowers.push_back(odd / ("layer-" + std::string(70, 'x') + "-" + std::to_string(i)));
      test::write_text(lowers.back() / "f", std::to_string(i));
    }
    for (const char* d : {"upper", "work", "merged"}) std::filesystem::create_directories(odd / d);
    mount_overlay(lowers, odd / "upper", odd / "work", odd / "merged");
    EXPECT_EQ(test::read_text(odd / "merged" / "f"), std::to_string(layers - 1)) << layers;
    test::write_text(odd / "merged" / "new", "x");
    EXPECT_EQ(test::read_text(odd / "upper" / "new"), "x") << layers;
    EXPECT_EQ(::umount2((odd / "merged").c_str(), MNT_DETACH), 0);
  }
}

// More layers than overlayfs stacks (500), too many for one page of
// options: from 6.8 the error is the kernel's reason; before, crt's, which
// blames the kernel's age.
TEST(MountOverlay, TooManyLayersIsAClearError) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  test::Scratch s;
  std::vector<std::filesystem::path> lowers;
  for (int i = 0; i < 501; ++i) {
    lowers.push_back(s / ("layer-" + std::to_string(i)));
    std::filesystem::create_directory(lowers.back());
  }
  for (const char* d : {"upper", "work", "merged"}) std::filesystem::create_directory(s / d);
  std::string error;
  try {
    mount_overlay(lowers, s / "upper", s / "work", s / "merged", UpperSync::kSynced);
    ::umount2((s / "merged").c_str(), MNT_DETACH);
  } catch (const Error& e) {
    error = e.what();
  }
  if (kernel_takes_layers_one_by_one()) {
    EXPECT_THAT(error, ::testing::HasSubstr("too many lower directories")) << error;
    EXPECT_THAT(error, ::testing::Not(::testing::HasSubstr("Linux 6.8"))) << error;
  } else {
    EXPECT_THAT(error, ::testing::HasSubstr("needs Linux 6.8")) << error;
  }
}

}  // namespace
}  // namespace crt::mount
