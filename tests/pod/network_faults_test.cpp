// Pod networks whose plugins fail, are killed mid-way or hang, and
// iptables runs that hang: starts fail naming what failed and leave
// nothing, teardowns that fail keep what crt gc needs, and every plugin and
// iptables run has a bounded time.

#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "../support/notify_socket.hpp"
#include "common/strings.hpp"
#include "net/state.hpp"
#include "network_fixture.hpp"

namespace crt::test {
namespace {

namespace stdfs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

/// Network "broken": host-local without a subnet, which ptp's ADD refuses.
class BrokenNetworkTest : public NetworkTest {
 protected:
  void write_broken_network() const {
    write_network("50-broken.conf",
                  R"({"cniVersion":"1.0.0","name":"broken","type":"ptp","ipam":{"type":"host-local","dataDir":")" +
                      ipam_dir() + R"("}})");
  }
  /// Network "trap": its plugin sets up nothing, refuses its first DEL (every
  /// DEL while net.d/trap.always exists), and logs each command to
  /// net.d/trap.log.
  void write_trap_network() const {
    write_test_plugin("trap", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'",
                      "[ -e \"$0.refused\" ] && [ ! -e \"$0.always\" ] && exit 0; : > \"$0.refused\"\n"
                      "     echo '{\"code\":11,\"msg\":\"not now\"}'; exit 1");
    write_network("40-trap.conf", R"({"cniVersion":"1.0.0","name":"trap","type":"trap"})");
  }
  [[nodiscard]] std::string trap_log() const { return read_file(config_dir() + "/net.d/trap.log"); }
  /// Starts a pod on network "hang", whose plugin's DEL then hangs, and
  /// kills its crt; `teardown(uuid)` (one with a time limit of 1 s) must
  /// fail within 10 s, the plugin killed and the pod's network left, which
  /// a gc then tears down. What `teardown` gave, for more checks.
  Result expect_a_hanging_del_killed(const std::function<Result(const std::string&)>& teardown) {
    write_test_plugin("hang", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'",
                      "[ -e \"$0.hangs\" ] && { echo $$ > \"$0.pid\"; exec sleep 20; }; :");
    write_network("40-hang.conf", R"({"cniVersion":"1.0.0","name":"hang","type":"hang"})");
    std::string uuid = run_and_kill_crt({"--net=default,hang", "busybox", "--", "/bin/sleep", "60"});
    EXPECT_FALSE(uuid.empty());
    if (uuid.empty()) return {};
    std::ofstream(config_dir() + "/net.d/hang.hangs").flush();
    auto start = std::chrono::steady_clock::now();
    Result r = teardown(uuid);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.status, 254);
    EXPECT_THAT(r.err, HasSubstr("tearing down network 'hang': plugin 'hang' did not end within 1 s: it was killed"));
    EXPECT_LT(took, std::chrono::seconds(10));
    expect_ended(config_dir() + "/net.d/hang.pid");
    EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
    stdfs::remove(config_dir() + "/net.d/hang.hangs");
    expect_gc_tears_down(uuid);
    EXPECT_EQ(crt({"rm", uuid}).status, 0);
    return r;
  }
  /// Network "cut": ptp, then a plugin whose ADD takes something for the
  /// pod (net.d/cut.held) and kills its crt (SIGKILL) before the result can
  /// be saved: the ADD finished, crt never knew. Its first DEL is refused;
  /// a later one gives back what the ADD took.
  void write_cut_network() const {
    write_test_plugin("cut", ": > \"$0.held\"; kill -KILL $PPID; echo '{\"cniVersion\":\"1.0.0\"}'",
                      "[ -e \"$0.refused\" ] && { rm -f \"$0.held\"; exit 0; }; : > \"$0.refused\"\n"
                      "     echo '{\"code\":11,\"msg\":\"not now\"}'; exit 1");
    write_network("40-cut.conflist",
                  R"({"cniVersion":"1.0.0","name":"cut","plugins":[{"type":"ptp","ipam":{"type":"host-local",)"
                  R"("subnet":"172.30.244.0/24","dataDir":")" +
                      ipam_dir() + R"("}},{"type":"cut"}]})");
  }
  /// Network "slow": its plugin's ADD logs "ADD" to net.d/slow.log, waits
  /// for net.d/slow.go (up to a minute), then takes something for the pod
  /// (net.d/slow.held) and logs "ADDED"; its DEL gives that back.
  void write_slow_network() const {
    write_test_plugin("slow",
                      "i=0; while [ ! -e \"$0.go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
                      "     : > \"$0.held\"; echo ADDED >> \"$0.log\"; echo '{\"cniVersion\":\"1.0.0\"}'",
                      "rm -f \"$0.held\"");
    write_network("40-slow.conf", R"({"cniVersion":"1.0.0","name":"slow","type":"slow"})");
  }
};

TEST_F(BrokenNetworkTest, FailingPluginNamesNetworkAndPluginAndLeavesNothing) {
  write_broken_network();
  Result r = crt(with_config({"run", "--net=default,broken", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: setting up network 'broken': plugin 'ptp' failed: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(pods("run").empty());
}

TEST_F(BrokenNetworkTest, AFailedStartWhoseNetworkWontGoKeepsWhatGcNeeds) {
  // "trap" sets up nothing and refuses its first DEL; "broken" fails ADD. The
  // start fails, and so does its teardown: the pod's directory (net.json)
  // stays for crt gc, which tears the network down, namespace and all.
  write_trap_network();
  write_broken_network();
  Result r = crt(with_config({"run", "--net=trap,broken", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: setting up network 'broken': plugin 'ptp' failed: "));
  EXPECT_THAT(r.err, HasSubstr("not now"));
  EXPECT_THAT(r.err, HasSubstr("'crt gc' will try again"));
  std::vector<std::string> left = pods("run");
  ASSERT_EQ(left.size(), 1u) << r.err;
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + left[0]));
  expect_gc_tears_down(left[0]);
  EXPECT_FALSE(stdfs::exists("/run/netns/crt-" + left[0]));
  EXPECT_EQ(crt({"rm", left[0]}).status, 0);
}

TEST_F(BrokenNetworkTest, APreparedPodStartedAgainFirstTearsDownWhatItsLastStartLeft) {
  // The first start fails ("broken"), and so does its teardown ("trap"'s
  // first DEL): the pod goes back to prepared with its namespace. The next
  // start gives the old network its DEL before it makes the namespace anew.
  write_trap_network();
  write_broken_network();
  Result r = crt(with_config({"prepare", "--net=trap,broken", "busybox", "--", "/bin/true"}));
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  r = crt(with_config({"run-prepared", uuid}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("not now"));
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("state=prepared\n"));
  r = crt(with_config({"run-prepared", uuid}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: setting up network 'broken': plugin 'ptp' failed: "));
  EXPECT_THAT(r.err, Not(HasSubstr("exists")));
  // ADD, the refused DEL; the old network's DEL; the new start's ADD and DEL.
  EXPECT_EQ(trap_log(), "ADD\nDEL\nDEL\nADD\nDEL\n");
  EXPECT_FALSE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// A plugin whose DEL always fails keeps a pod from going while its network
// namespace is there (a later try may reach what is inside), unless crt rm
// is forced; once the namespace is gone (a reboot), nothing is left for a
// try to reach: the failure is a warning.
TEST_F(BrokenNetworkTest, APodWhoseNetworkWontGoIsRemovedWhenForcedOrItsNamespaceIsGone) {
  write_trap_network();
  write_broken_network();
  std::ofstream(config_dir() + "/net.d/trap.always").flush();
  for (bool forced : {true, false}) {
    Result r = crt(with_config({"run", "--net=trap,broken", "busybox", "--", "/bin/true"}));
    EXPECT_EQ(r.status, 254);
    std::vector<std::string> left = pods("run");
    ASSERT_EQ(left.size(), 1u) << r.err;
    std::string uuid = left[0];
    r = crt(with_config({"rm", uuid}));
    EXPECT_EQ(r.status, 254);
    EXPECT_THAT(r.err, HasSubstr("not now"));
    EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
    if (forced) {
      r = crt(with_config({"rm", "--force", uuid}));
    } else {
      ASSERT_EQ(run({"ip", "netns", "delete", "crt-" + uuid}).status, 0);
      r = crt(with_config({"rm", uuid}));
    }
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(
        r.err, HasSubstr("crt: warning: pod " + uuid + ": tearing down network 'trap': plugin 'trap' failed: not now"));
    EXPECT_TRUE(pods("run").empty());
    EXPECT_FALSE(stdfs::exists("/run/netns/crt-" + uuid));
  }
}

// gc removing a pod tears its network down with it: a DEL that fails is
// tried once per gc, and said once, not tried again at once by gc's
// teardown of dead pods' networks.
TEST_F(BrokenNetworkTest, GcTriesAFailingDelOncePerPod) {
  write_trap_network();
  write_broken_network();
  std::ofstream(config_dir() + "/net.d/trap.always").flush();
  Result r = crt(with_config({"run", "--net=trap,broken", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  std::vector<std::string> left = pods("run");
  ASSERT_EQ(left.size(), 1u) << r.err;
  ASSERT_EQ(trap_log(), "ADD\nDEL\n");
  r = crt(with_config({"gc", "--grace-period=0s"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(trap_log(), "ADD\nDEL\nDEL\n");
  size_t said = 0;
  for (size_t at = r.err.find("not now"); at != std::string::npos; at = r.err.find("not now", at + 1)) ++said;
  EXPECT_EQ(said, 1u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = crt(with_config({"rm", "--force", left[0]}));
  EXPECT_EQ(r.status, 0) << r.err;
}

// crt killed after a network's ADD finished but before its result was
// saved: gc gives it a DEL all the same (with the configuration alone), and
// one that fails keeps the pod for the next gc, as for a network whose
// result was saved; nothing it holds is dropped unsaid.
TEST_F(BrokenNetworkTest, ANetworkWhoseAddFinishedUnsavedStillGetsItsDelUntilOneSucceeds) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  write_cut_network();
  std::string file = dir_ + "/uuid";
  Process p(crt_argv(with_config({"run", "--uuid-file-save=" + file, "--net=cut", "busybox", "--", "/bin/true"})),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  EXPECT_EQ(p.wait().status, 128 + SIGKILL);
  ASSERT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  std::string held = config_dir() + "/net.d/cut.held";
  ASSERT_TRUE(stdfs::exists(held));
  auto st = net::read_state(pod_dir(uuid));
  ASSERT_TRUE(st);
  ASSERT_EQ(st->attachments.size(), 1u);
  EXPECT_TRUE(st->attachments[0].attempted);
  EXPECT_TRUE(st->attachments[0].result.is_null());
  // crt's watch gave it a DEL once the pod had ended, which was refused:
  // the network stays, for gc.
  EXPECT_TRUE(stdfs::exists(config_dir() + "/net.d/cut.refused"));
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  expect_gc_tears_down(uuid);
  EXPECT_FALSE(stdfs::exists(held));
  EXPECT_FALSE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_EQ(read_file(config_dir() + "/net.d/cut.log"), "ADD\nDEL\nDEL\n");
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// crt killed while a plugin's ADD still runs: the pod's lock is the
// plugin's too, so gc leaves the pod alone until the plugin is done, and
// then tears down what it set up, not what was there before it was done.
TEST_F(BrokenNetworkTest, APluginStillRunningWhenCrtIsKilledKeepsItsPodFromGcUntilItEnds) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  write_slow_network();
  std::string file = dir_ + "/uuid";
  std::string log = config_dir() + "/net.d/slow.log";
  std::string held = config_dir() + "/net.d/slow.held";
  Process p(crt_argv(with_config({"run", "--uuid-file-save=" + file, "--net=slow", "busybox", "--", "/bin/true"})),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  for (int i = 0; i < 300 && read_file(log).empty(); ++i) std::this_thread::sleep_for(milliseconds(100));
  ASSERT_EQ(read_file(log), "ADD\n");
  pid_t nspawn = std::stoi(read_file(pod_dir(uuid) + "/pid"));
  p.signal(SIGKILL);
  p.wait();
  // nspawn stops the pod once its crt is gone; the plugin goes on.
  auto gone = [](pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    return stat.empty() || stat.find(") Z ") != std::string::npos;
  };
  for (int i = 0; i < 200 && !gone(nspawn); ++i) std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(gone(nspawn));
  Result r = crt(with_config({"gc"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("tore down the network of " + uuid)));
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_EQ(read_file(log), "ADD\n");
  // Once the plugin is done, crt's watch tears down what it set up.
  std::ofstream(config_dir() + "/net.d/slow.go").flush();
  EXPECT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  EXPECT_EQ(read_file(log), "ADD\nADDED\nDEL\n");
  EXPECT_FALSE(stdfs::exists(held));
  r = crt(with_config({"gc"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("tore down the network of " + uuid)));
  EXPECT_FALSE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// A pod whose crt was killed has its host ports held by crt's watch, then
// by the teardown of its network, until their forwarding is gone: a host
// service that took a port meanwhile would get no error, and lose its
// traffic to a pod that is gone. Here the teardown waits in the DEL of
// network "hold" (for net.d/hold.go), before that of the network that
// forwards the ports; [::]'s socket is made once the pod has its address.
TEST_F(BrokenNetworkTest, AKilledCrtsHostPortsStayHeldUntilItsNetworkIsTornDown) {
  if (!std::filesystem::exists("/proc/net/if_inet6")) GTEST_SKIP() << "this host has no IPv6";
  check_cgroups_ = false;  // crt gc's part, and the test's
  write_dual_stack_network();
  write_hold_network();
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--net=dualbr,hold", "--port=" + std::to_string(port) + ":80"}, "held");
  ASSERT_FALSE(uuid.empty());
  p->signal(SIGKILL);
  p->wait();
  for (int i = 0; i < 300 && hold_log() != "ADD\nDEL\n"; ++i) std::this_thread::sleep_for(milliseconds(100));
  ASSERT_EQ(hold_log(), "ADD\nDEL\n");
  EXPECT_EQ(bind_error(AF_INET, port), EADDRINUSE);
  EXPECT_EQ(bind_error(AF_INET6, port), EADDRINUSE);
  let_hold_go();
  ASSERT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + uuid), ::testing::IsEmpty());
  EXPECT_EQ(bind_error(AF_INET, port), 0);
  EXPECT_EQ(bind_error(AF_INET6, port), 0);
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// The teardown after crt's death gives each plugin a bounded time: one whose
// DEL hangs would keep the pod reading as running (its lock held) for ever.
// It is killed, with what it started, and the network is left to crt gc.
// Run here as crt's watch runs it (the pod's directory as fd 3), with a
// shorter time limit; what it says goes to the journal and its stderr.
TEST_F(BrokenNetworkTest, AHangingDelInTheTeardownAfterCrtsDeathIsKilledAndTheNetworkLeftToGc) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  expect_a_hanging_del_killed([this](const std::string& uuid) {
    return run({"/bin/sh", "-c",
                "exec 3<\"$1\" && exec \"$2\" --dir=\"$3\" network-teardown-after-crt "
                "--plugin-time-limit=1s \"$4\"",
                "sh", pod_dir(uuid), crt_bin_, dir_, uuid});
  });
}

// crt gc gives each plugin of a network's teardown a bounded time too: one
// whose DEL hangs would hang this gc, and every later one, for ever. It is
// killed, with what it started, and the network stays for the next gc.
// (The hidden --plugin-time-limit shortens the 30 s crt gives it.)
TEST_F(BrokenNetworkTest, AHangingDelInGcIsKilledAndTheNetworkLeftToTheNextGc) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  Result r = expect_a_hanging_del_killed([this](const std::string&) {
    return crt(with_config({"gc", "--plugin-time-limit=1s"}));
  });
  EXPECT_THAT(r.err, HasSubstr("(will try again at the next gc)"));
}

// crt run's own teardown, at the pod's end, gives each plugin 30 s too: one
// whose DEL hangs is killed, crt run ends with the apps' status and a
// warning, and the network is left to crt gc. (The hidden
// --plugin-time-limit would shorten it; this test waits out crt's own 30 s.)
TEST_F(BrokenNetworkTest, AHangingDelAtTheEndOfCrtRunIsKilledAndTheNetworkLeftToGc) {
  write_test_plugin("hang", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'",
                    "[ -e \"$0.hangs\" ] && { echo $$ > \"$0.pid\"; exec sleep 100; }; :");
  write_network("40-hang.conf", R"({"cniVersion":"1.0.0","name":"hang","type":"hang"})");
  std::ofstream(config_dir() + "/net.d/hang.hangs").flush();
  std::string file = dir_ + "/uuid";
  auto start = std::chrono::steady_clock::now();
  Result r = crt(with_config({"run", "--uuid-file-save=" + file, "--net=default,hang", "busybox", "--", "/bin/true"}),
                 {.env = {}, .timeout = std::chrono::seconds(150), .input = {}, .new_session = false});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("tearing down network 'hang': plugin 'hang' did not end within 30 s: it was killed"));
  EXPECT_THAT(r.err, HasSubstr("'crt gc' will try again"));
  EXPECT_LT(took, std::chrono::seconds(60));
  expect_ended(config_dir() + "/net.d/hang.pid");
  std::string uuid = read_file(file).substr(0, 36);
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  stdfs::remove(config_dir() + "/net.d/hang.hangs");
  expect_gc_tears_down(uuid);
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// Under a unit ($NOTIFY_SOCKET), crt run asks systemd again before each
// program of its network's teardown to wait for it as long as the program
// may take and the rest of its cleanup: two DELs that hang (a wedged xtables
// lock) would otherwise outlast the 45 s systemd waits for the cleanup, and
// crt be killed with the network half torn down. Here each of two networks'
// DEL hangs until killed after the time limit (5 s: 5 + 6 + 9 s asked each
// time); a renewal comes after the first was killed.
TEST_F(BrokenNetworkTest, UnderAUnitEachProgramOfTheTeardownRenewsTheUnitsWait) {
  write_test_plugin("hang", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'", "[ -e \"$0.hangs\" ] && exec sleep 100; :");
  write_network("40-hang.conf", R"({"cniVersion":"1.0.0","name":"hang","type":"hang"})");
  write_network("41-hang2.conf", R"({"cniVersion":"1.0.0","name":"hang2","type":"hang"})");
  std::ofstream(config_dir() + "/net.d/hang.hangs").flush();
  NotifySocket notify(dir_ + "/notify");
  std::string file = dir_ + "/uuid";
  Result r = crt(with_config({"run", "--plugin-time-limit=5s", "--uuid-file-save=" + file, "--net=default,hang,hang2",
                              "busybox", "--", "/bin/true"}),
                 {.env = {notify.env()}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = false});
  // When each renewal came, by the kernel's clock of its arrival.
  std::vector<double> renewals = notify.arrivals("EXTEND_TIMEOUT_USEC=20000000");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("tearing down network 'hang2': plugin 'hang' did not end within 5 s: it was killed"));
  EXPECT_EQ(read_file(config_dir() + "/net.d/hang.log"), "ADD\nADD\nDEL\nDEL\n");  // both hung
  EXPECT_THAT(renewals, ::testing::Each(::testing::Ge(0))) << "not stamped";
  // Each plugin's DEL (the two that hang, default's), and iptables' runs.
  ASSERT_GE(renewals.size(), 3U);
  EXPECT_GE(renewals.back() - renewals.front(), 4.5) << "no renewal after the first hung DEL was killed";
  stdfs::remove(config_dir() + "/net.d/hang.hangs");
  std::string uuid = read_file(file).substr(0, 36);
  expect_gc_tears_down(uuid);
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// What a unit stopping crt is asked to wait for (STOPPING=1) is the pod's
// stop timeout and crt's cleanup after it, whose network teardown's
// programs may each take --plugin-time-limit (45 s fits the default 30 s):
// a longer limit asks for that, its kill and the rest of the cleanup (60 +
// 6 + 9 s), as the teardown's start does too; else systemd would kill crt
// before one of its programs may run out.
TEST_F(BrokenNetworkTest, UnderAUnitTheStopsWaitFitsALongerPluginTimeLimit) {
  NotifySocket notify(dir_ + "/notify");
  std::string file = dir_ + "/uuid";
  Process p(crt_argv(with_config({"run", "--plugin-time-limit=60s", "--stop-timeout=3s", "--uuid-file-save=" + file,
                                  "busybox", "--", "/bin/sleep", "60"})),
            {.env = {notify.env()}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = false});
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  p.signal(SIGTERM);
  Result r = p.wait();
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  std::vector<std::string> texts = notify.texts();
  EXPECT_THAT(texts, Contains("STOPPING=1\nEXTEND_TIMEOUT_USEC=78000000"));
  EXPECT_THAT(texts, Contains("EXTEND_TIMEOUT_USEC=75000000"));
  EXPECT_THAT(texts, Not(Contains(HasSubstr("EXTEND_TIMEOUT_USEC=45000000"))));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// A plugin whose ADD hangs would hang crt run, and so a unit's start, for
// ever: it is killed after crt's time limit (30 s; the hidden
// --plugin-time-limit shortens it), the start fails naming the plugin and
// the limit, what was set up gets its DEL, and the pod, which never
// started, is removed.
TEST_F(BrokenNetworkTest, AHangingAddIsKilledAndThePodWhichNeverStartedRemoved) {
  // 5 s: the real plugins' ADDs (default's) and iptables runs, which the
  // limit holds too, take far less also on a loaded machine.
  write_test_plugin("hang", "echo $$ > \"$0.pid\"; exec sleep 60", ":");
  write_network("40-hang.conf", R"({"cniVersion":"1.0.0","name":"hang","type":"hang"})");
  auto start = std::chrono::steady_clock::now();
  Result r = crt(with_config({"run", "--plugin-time-limit=5s", "--net=default,hang", "busybox", "--", "/bin/true"}),
                 {.env = {}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = false});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: setting up network 'hang': plugin 'hang' did not end within 5 s: it was killed"));
  EXPECT_LT(took, std::chrono::seconds(40));
  expect_ended(config_dir() + "/net.d/hang.pid");
  EXPECT_EQ(read_file(config_dir() + "/net.d/hang.log"), "ADD\nDEL\n");
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// So does each iptables run of the start: here the iptables-restore that
// masquerades the pod's traffic hangs (that of its removal does not).
TEST_F(NetworkTest, AHangingIptablesAtTheStartIsKilledAndThePodRemoved) {
  std::string path =
      wrap_tool("iptables-restore",
                "input=$(cat)\ncase \"$input\" in *'-A POSTROUTING'*) echo $$ > \"$0.pid\"; exec sleep 60 ;; "
                "esac\nprintf '%s\\n' \"$input\" | \"$REAL\" \"$@\"; exit");
  ASSERT_FALSE(path.empty());
  auto start = std::chrono::steady_clock::now();
  Result r = crt({"run", "--plugin-time-limit=5s", "busybox", "--", "/bin/true"},
                 {.env = {path}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = false});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err,
              HasSubstr("masquerading the pod's traffic: iptables-restore did not end within 5 s: it was killed"));
  EXPECT_LT(took, std::chrono::seconds(40));
  expect_ended(dir_ + "/bin/iptables-restore.pid");
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// So does each iptables run of the teardown (a wedged xtables lock, an
// iptables stuck in the kernel): here an iptables-save that hangs, found
// first in PATH.
TEST_F(NetworkTest, AHangingIptablesInGcIsKilledAndTheNetworkLeftToTheNextGc) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  std::string uuid = run_and_kill_crt({"busybox", "--", "/bin/sleep", "60"});
  ASSERT_FALSE(uuid.empty());
  std::string bin = dir_ + "/bin";
  std::string env = wrap_tool("iptables-save", "[ -e \"$0.hangs\" ] && { echo $$ > \"$0.pid\"; exec sleep 20; }");
  ASSERT_FALSE(env.empty());
  std::ofstream(bin + "/iptables-save.hangs").flush();
  RunOptions path{.env = {env}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = false};
  auto start = std::chrono::steady_clock::now();
  Result r = crt(with_config({"gc", "--plugin-time-limit=1s"}), path);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("removing the rules plugins left for crt-" + uuid +
                               ": iptables-save did not end within 1 s: it was killed"));
  EXPECT_LT(took, std::chrono::seconds(10));
  expect_ended(bin + "/iptables-save.pid");
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  stdfs::remove(bin + "/iptables-save.hangs");
  expect_gc_tears_down(uuid, path);
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

}  // namespace
}  // namespace crt::test
