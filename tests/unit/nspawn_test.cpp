#include "runtime/nspawn.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/signals.hpp"
#include "runtime/supervisor.hpp"
#include "test_support.hpp"

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

// sd-event's callbacks are C: what one throws (here crt's callback for the
// pod's leader) comes out of supervise(), and the pod is killed rather than
// left running unsupervised. Only nspawn's own notices count: another
// process's naming of a leader is not taken (the pod's stop kills it).
TEST(Supervise, WhatACallbackThrowsComesOutAndThePodIsKilled) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd notify(sv[0]), nspawn_end(sv[1]);
  int on = 1;
  ASSERT_EQ(::setsockopt(notify.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
  pid_t decoy = ::fork();
  if (decoy == 0) {
    ::pause();
    _exit(0);
  }
  ASSERT_GT(decoy, 0);
  std::string forged = "X_NSPAWN_LEADER_PID=" + std::to_string(decoy) + "\n";
  ASSERT_EQ(::send(nspawn_end.get(), forged.data(), forged.size(), 0), static_cast<ssize_t>(forged.size()));
  pid_t pod = ::fork();
  if (pod == 0) {
    // nspawn's notice names the pod's leader: here the same process.
    std::string notice = "X_NSPAWN_LEADER_PID=" + std::to_string(::getpid()) + "\n";
    if (::send(nspawn_end.get(), notice.data(), notice.size(), 0) != static_cast<ssize_t>(notice.size())) _exit(1);
    ::pause();
    _exit(0);
  }
  ASSERT_GT(pod, 0);
  SuperviseOptions o;
  o.nspawn_pid = pod;
  o.notify_fd = notify.get();
  pid_t leader = 0;
  o.on_leader = [&](pid_t p) {
    leader = p;
    throw Error("told too much");
  };
  std::string error;
  {
    SignalBlock signals;
    error = test::error_of([&] { supervise(o); });
  }
  EXPECT_EQ(error, "told too much");
  EXPECT_EQ(leader, pod) << "another process's notice was taken";
  int status = 0;
  pid_t ended = 0;
  for (int i = 0; i < 200 && ended == 0; ++i) {
    ended = ::waitpid(pod, &status, WNOHANG);
    if (ended == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (ended == 0) {
    ::kill(pod, SIGKILL);
    ::waitpid(pod, nullptr, 0);
  }
  EXPECT_EQ(::waitpid(decoy, nullptr, WNOHANG), 0) << "the process another named was killed";
  ::kill(decoy, SIGKILL);
  ::waitpid(decoy, nullptr, 0);
  ASSERT_EQ(ended, pod) << "the pod was left running";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

}  // namespace
}  // namespace crt::runtime
