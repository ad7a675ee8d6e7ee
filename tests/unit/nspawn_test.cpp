#include "runtime/nspawn.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace crt::runtime {
namespace {

using Strings = std::vector<std::string>;

pod::PodManifest pod() {
  pod::PodManifest m;
  m.uuid = "0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f";
  m.hostname = "web-1";
  return m;
}

bool has(const Strings& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(NspawnCommand, Default) {
  NspawnOptions o;
  o.stage1_rootfs = "/var/lib/crt/pods/run/x/stage1/rootfs";
  EXPECT_EQ(nspawn_command(pod(), o),
            (Strings{"systemd-nspawn", "--boot", "--notify-ready=yes", "--quiet",
                     "--machine=crt-0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f",
                     "--uuid=0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f", "--hostname=web-1", "--link-journal=try-guest",
                     "--directory=/var/lib/crt/pods/run/x/stage1/rootfs", "--register=no", "--keep-unit",
                     "--console=passive", "--", "--show-status=0", "--log-level=warning"}));
}

TEST(NspawnCommand, RegisteredWithMachined) {
  NspawnOptions o;
  o.register_machine = true;
  o.keep_unit = false;
  Strings a = nspawn_command(pod(), o);
  EXPECT_TRUE(has(a, "--register=yes"));
  EXPECT_FALSE(has(a, "--register=no"));
  EXPECT_FALSE(has(a, "--keep-unit"));
}

TEST(NspawnCommand, RegisteredWithTheUnitCrtRunsIn) {
  NspawnOptions o;
  o.register_machine = true;
  o.keep_unit = true;
  Strings a = nspawn_command(pod(), o);
  EXPECT_TRUE(has(a, "--register=yes"));
  EXPECT_TRUE(has(a, "--keep-unit"));
}

TEST(NspawnCommand, SysResourceOnlyForANegativeOomScore) {
  pod::PodManifest m = pod();
  m.apps.emplace_back();
  m.apps[0].oom_score_adj = 500;
  EXPECT_FALSE(has(nspawn_command(m, {}), "--capability=CAP_SYS_RESOURCE"));
  m.apps[0].oom_score_adj = -1;
  EXPECT_TRUE(has(nspawn_command(m, {}), "--capability=CAP_SYS_RESOURCE"));
}

TEST(NspawnCommand, Debug) {
  NspawnOptions o;
  o.debug = true;
  Strings a = nspawn_command(pod(), o);
  EXPECT_FALSE(has(a, "--quiet"));
  EXPECT_EQ(a.back(), "--log-level=debug");
}

TEST(NspawnCommand, Consoles) {
  NspawnOptions o;
  o.console = Console::kInteractive;
  EXPECT_TRUE(has(nspawn_command(pod(), o), "--console=interactive"));
  o.console = Console::kReadOnly;
  EXPECT_TRUE(has(nspawn_command(pod(), o), "--console=read-only"));
}

TEST(NspawnCommand, PrivateNetwork) {
  pod::PodManifest m = pod();
  EXPECT_FALSE(has(nspawn_command(m, {}), "--private-network"));
  m.net = "none";
  EXPECT_TRUE(has(nspawn_command(m, {}), "--private-network"));
}

TEST(NspawnCommand, ExtraArgumentsGoBeforeTheInitArguments) {
  NspawnOptions o;
  o.binary = "/usr/bin/systemd-nspawn";
  o.extra = {"--tmpfs=/sys/fs/cgroup", "--bind=/a\\:b:/c"};
  Strings a = nspawn_command(pod(), o);
  EXPECT_EQ(a.front(), "/usr/bin/systemd-nspawn");
  auto dashdash = std::find(a.begin(), a.end(), "--");
  ASSERT_NE(dashdash, a.end());
  EXPECT_EQ(*(dashdash - 2), "--tmpfs=/sys/fs/cgroup");
  EXPECT_EQ(*(dashdash - 1), "--bind=/a\\:b:/c");
}

TEST(NspawnCommand, DirectoryWithSpacesStaysOneArgument) {
  NspawnOptions o;
  o.stage1_rootfs = "/var/lib/my crt/rootfs";
  EXPECT_TRUE(has(nspawn_command(pod(), o), "--directory=/var/lib/my crt/rootfs"));
}

}  // namespace
}  // namespace crt::runtime
