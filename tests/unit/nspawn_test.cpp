#include "runtime/nspawn.hpp"
#include "runtime/supervisor.hpp"

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
  EXPECT_EQ(
      nspawn_command(pod(), o),
      (Strings{"systemd-nspawn", "--boot", "--notify-ready=yes", "--quiet",
               "--machine=crt-0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f", "--uuid=0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f",
               "--hostname=web-1", "--link-journal=try-guest", "--directory=/var/lib/crt/pods/run/x/stage1/rootfs",
               "--register=no", "--keep-unit", "--console=passive",
               "--setenv=SYSTEMD_UNIT_PATH=/etc/systemd/system.control:/run/systemd/system.control:"
               "/run/systemd/transient:/etc/systemd/system:/usr/lib/systemd/system",
               "--bind-ro=+/usr/lib/crt/journal-flushed:/run/systemd/journal/flushed", "--", "--show-status=0",
               "--log-level=warning", "--log-color=no"}));
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
  EXPECT_TRUE(has(a, "--log-level=debug"));
}

TEST(NspawnCommand, ColorsOnlyOnATerminal) {
  NspawnOptions o;
  EXPECT_EQ(nspawn_command(pod(), o).back(), "--log-color=no");
  o.console_colors = true;
  EXPECT_FALSE(has(nspawn_command(pod(), o), "--log-color=no"));
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

TEST(NspawnNotice, LeaderPidComesBeforeReady) {
  NspawnNotice n = parse_nspawn_notice("STATUS=Container running.\nX_NSPAWN_LEADER_PID=12424");
  EXPECT_FALSE(n.ready);
  ASSERT_TRUE(n.leader.has_value());
  EXPECT_EQ(*n.leader, 12424);
  n = parse_nspawn_notice("READY=1\n");
  EXPECT_TRUE(n.ready);
  EXPECT_FALSE(n.leader.has_value());
  n = parse_nspawn_notice("X_NSPAWN_LEADER_PID=7\nREADY=1");
  EXPECT_TRUE(n.ready);
  EXPECT_EQ(n.leader.value_or(0), 7);
}

TEST(NspawnNotice, IgnoresLookalikes) {
  EXPECT_FALSE(parse_nspawn_notice("READY=10").ready);
  EXPECT_FALSE(parse_nspawn_notice("STATUS=READY=1").ready);
  EXPECT_FALSE(parse_nspawn_notice("X_NSPAWN_LEADER_PID=12x").leader.has_value());
  EXPECT_FALSE(parse_nspawn_notice("X_NSPAWN_LEADER_PID=").leader.has_value());
  EXPECT_FALSE(parse_nspawn_notice("X_NSPAWN_LEADER_PID=-3").leader.has_value());
  EXPECT_FALSE(parse_nspawn_notice("").ready);
}

}  // namespace
}  // namespace crt::runtime
