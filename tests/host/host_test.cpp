// Host-integration scenarios: one throwaway systemd test host is booted for
// the whole suite (scenarios use pods of their own) and driven with the
// real systemctl, machinectl, systemd-cgls, systemd-cgtop and journalctl
// inside it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "mount/mounts.hpp"
#include "test_host.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;
using namespace std::chrono_literals;

TestHost* host = nullptr;

const char* const kBootPod = R"([Pod]
Name=booted

[App web]
Image=busybox
Args=/bin/sh -c "echo booted-pod-up; exec sleep 600"

[Install]
WantedBy=multi-user.target
)";

const char* const kBrokenPod = R"([App web]
Image=busybox
Colour=blue
)";

/// A drop-in of crt@busybox.service running `script` in busybox, with
/// CRT_RUN_ARGS.
std::string busybox_dropin(const std::string& script, const std::string& run_args, const std::string& extra = "") {
  std::string s = "[Service]\nEnvironment=\"CRT_RUN_ARGS=" + run_args + "\"\nExecStart=\nExecStart=/usr/local/bin/crt run "
                  "$CRT_RUN_ARGS busybox -- /bin/sh -c \"" + script + "\"\n" + extra;
  return "mkdir -p /etc/systemd/system/crt@busybox.service.d && cat > /etc/systemd/system/crt@busybox.service.d/test.conf "
         "<<'EOF'\n" + s + "EOF\nsystemctl daemon-reload\n";
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string machine_of_unit(const std::string& unit) {
  Result r = host->sh("machinectl list --no-legend | awk '{print $1}' | while read m; do "
                      "[ \"$(machinectl show \"$m\" -p Unit --value)\" = '" + unit + "' ] && echo \"$m\"; done");
  return first_line(r.out);
}

/// Puts the notify-ready helper (READY=1 after N seconds) at /opt/nr in the
/// test host, for a host volume.
void install_notify_ready() {
  std::filesystem::create_directories(host->path("/opt/nr"));
  std::filesystem::copy_file(NOTIFY_READY_BIN, host->path("/opt/nr/notify-ready"),
                             std::filesystem::copy_options::overwrite_existing);
}

/// Waits until `script` prints something containing `what`.
bool eventually(const std::string& script, const std::string& what, std::chrono::seconds t = 20s) {
  for (auto until = std::chrono::steady_clock::now() + t; std::chrono::steady_clock::now() < until;) {
    if (host->sh(script).out.find(what) != std::string::npos) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

TEST(Generator, PodFileWithWantedByRunsAfterBoot) {
  Result r = host->sh("systemctl is-active crt-booted.service; machinectl show booted -p Class -p Unit -p Service");
  EXPECT_THAT(r.out, HasSubstr("active\n"));
  EXPECT_THAT(r.out, HasSubstr("Class=container"));
  EXPECT_THAT(r.out, HasSubstr("Service=crt\n"));
  EXPECT_THAT(r.out, HasSubstr("Unit=crt-booted.service"));
  EXPECT_TRUE(eventually("journalctl -M booted -t web --no-pager", "booted-pod-up"));
  r = host->sh("systemctl cat crt-booted.service");
  EXPECT_THAT(r.out, HasSubstr("# /run/systemd/generator/crt-booted.service"));
  EXPECT_THAT(r.out, HasSubstr("SourcePath=/etc/crt/pods/booted.pod"));
}

TEST(Generator, BrokenPodFileIsSkippedAndBootGoesOn) {
  Result r = host->sh("systemctl is-system-running; systemctl list-units --no-legend 'crt-*'");
  EXPECT_THAT(r.out, AnyOf(HasSubstr("running"), HasSubstr("degraded")));
  // A container has no /dev/kmsg: the generator logs to the journal once
  // journald runs (here: at daemon-reload).
  host->sh("systemctl daemon-reload");
  EXPECT_TRUE(eventually("journalctl -t crt-generator -b --no-pager -o cat",
                         "/etc/crt/pods/broken.pod:3: Colour: unknown key in [App web]"));
  EXPECT_EQ(host->sh("systemctl is-active crt-booted.service").out, "active\n");
  r = host->sh("/usr/local/lib/systemd/system-generators/crt-generator --dry-run");
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.out, HasSubstr("# crt-booted.service"));
  EXPECT_THAT(r.err, HasSubstr("crt-generator: /etc/crt/pods/broken.pod:3: Colour: unknown key in [App web]"));
  // In its stead, a unit that says why (BrokenPodFilesUnitSaysWhy).
  EXPECT_THAT(r.out, HasSubstr("# crt-broken.service\n"));
  r = host->sh("crt pod-file validate /etc/crt/pods/broken.pod");
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: /etc/crt/pods/broken.pod:3: Colour: unknown key in [App web]\n");
}

// Where the admin looks for the pod of a refused file, its unit says why:
// systemctl status before any start, a start that fails at once, and the
// unit's journal.
TEST(Generator, BrokenPodFilesUnitSaysWhy) {
  const std::string why = "/etc/crt/pods/broken.pod:3: Colour: unknown key in [App web]";
  Result r = host->sh("systemctl status crt-broken.service");
  EXPECT_THAT(r.out, HasSubstr("crt-broken.service - crt pod broken: pod file refused: " + why)) << r.err;
  EXPECT_THAT(r.out, HasSubstr("inactive (dead)"));
  r = host->sh("systemctl start crt-broken.service", 60s);
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("crt-broken.service"));
  EXPECT_TRUE(eventually("journalctl -u crt-broken.service --no-pager -o cat",
                         "crt: the pod does not start: crt-generator refused its pod file: " + why));
  // The unit's last journal lines, which journald may file a moment later.
  EXPECT_TRUE(eventually("systemctl status crt-broken.service", "then run 'systemctl daemon-reload'"));
  r = host->sh("systemctl status crt-broken.service");
  EXPECT_THAT(r.out, HasSubstr("failed"));
  EXPECT_THAT(r.out, HasSubstr("crt-generator refused its pod file: " + why));
}

/// Stops `unit` with systemctl stop, then (started again) with crt stop,
/// then with machinectl poweroff: no stop fails the unit (crt run ends by
/// SIGTERM), and Restart=on-failure
/// does not start the pod again. (An inactive unit's figures, ExecMainStatus
/// and NRestarts, go when systemd unloads it; a failed unit's stay.)
void expect_clean_stops(const std::string& unit) {
  Result r = host->sh("systemctl start " + unit + " && systemctl is-active " + unit, 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  r = host->sh("systemctl stop " + unit + "; systemctl is-active " + unit + "; systemctl show " + unit + " -p Result",
               60s);
  EXPECT_EQ(r.out, "inactive\nResult=success\n");
  r = host->sh("systemctl start " + unit + " && systemctl is-active " + unit, 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  std::string machine = machine_of_unit(unit);
  ASSERT_FALSE(machine.empty());
  // An unnamed pod's machine is crt-UUID.
  r = host->sh("crt stop " + (machine.rfind("crt-", 0) == 0 ? machine.substr(4) : machine), 60s);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(eventually("systemctl is-active " + unit, "inactive", 30s));
  std::this_thread::sleep_for(1s);  // RestartSec= is shorter
  r = host->sh("systemctl is-active " + unit + "; systemctl show " + unit + " -p Result");
  EXPECT_EQ(r.out, "inactive\nResult=success\n");
  // machinectl poweroff tells the pod's systemd alone.
  r = host->sh("systemctl start " + unit + " && systemctl is-active " + unit, 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  machine = machine_of_unit(unit);
  ASSERT_FALSE(machine.empty());
  EXPECT_EQ(host->sh("machinectl poweroff " + machine).status, 0);
  EXPECT_TRUE(eventually("systemctl is-active " + unit, "inactive", 30s));
  std::this_thread::sleep_for(1s);
  r = host->sh("systemctl is-active " + unit + "; systemctl show " + unit + " -p Result");
  EXPECT_EQ(r.out, "inactive\nResult=success\n");
}

TEST(Generator, StoppedPodUnitIsInactiveNotFailed) {
  host->sh(
      "cat > /etc/crt/pods/stopped.pod <<'EOF'\n[App web]\nImage=busybox\nArgs=/bin/sleep 600\n\n"
      "[Service]\nRestart=on-failure\nRestartSec=100ms\nEOF\nsystemctl daemon-reload");
  expect_clean_stops("crt-stopped.service");
  host->sh(
      "systemctl stop crt-stopped.service; systemctl reset-failed crt-stopped.service; "
      "rm /etc/crt/pods/stopped.pod; systemctl daemon-reload",
      60s);
}

TEST(Generator, PodFileTakesTheUnitsEnvironmentAndStopTimeout) {
  host->sh(
      "cat > /etc/crt/pods/inherit.pod <<'EOF'\n[Pod]\nInheritEnvironment=yes\nStopTimeout=5s\n\n[App "
      "web]\nImage=busybox\n"
      "Args=/bin/sh -c 'echo \"from-unit=$FROM_UNIT notify=$NOTIFY_SOCKET\"; exec sleep 600'\n\n"
      "[Service]\nEnvironment=FROM_UNIT=yes\nEOF\nsystemctl daemon-reload");
  Result r =
      host->sh("systemctl start crt-inherit.service; systemctl show crt-inherit.service -p TimeoutStopUSec", 90s);
  EXPECT_EQ(r.out, "TimeoutStopUSec=50s\n") << r.err;  // StopTimeout= and crt's 45 s of cleanup
  EXPECT_TRUE(eventually("journalctl -M inherit -t web --no-pager -o cat", "from-unit=yes notify=\n"));
  host->sh("systemctl stop crt-inherit.service; rm /etc/crt/pods/inherit.pod; systemctl daemon-reload", 60s);
}

TEST(Machines, TerminalPodIsAMachineWithItsOwnScope) {
  host->sh("rm -f /var/lib/crt/t.uuid; (crt run --uuid-file-save=/var/lib/crt/t.uuid busybox -- /bin/sh -c "
           "\"trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.1; done\" > /var/lib/crt/t.out 2>&1; "
           "echo $? > /var/lib/crt/t.rc) > /dev/null 2>&1 &");
  ASSERT_TRUE(eventually("cat /var/lib/crt/t.out", "up"));
  std::string uuid = first_line(host->sh("cat /var/lib/crt/t.uuid").out);
  std::string m = "crt-" + uuid;
  Result r = host->sh("machinectl list --no-legend");
  EXPECT_THAT(r.out, HasSubstr(m + " container"));
  r = host->sh("machinectl show " + m + " -p Unit -p Class -p State -p Service");
  std::string scope = "machine-crt\\x2d" + std::regex_replace(uuid, std::regex("-"), "\\x2d") + ".scope";
  EXPECT_THAT(r.out, HasSubstr("Unit=" + scope));
  EXPECT_THAT(r.out, HasSubstr("Class=container"));
  EXPECT_THAT(r.out, HasSubstr("Service=crt\n"));
  // crt made the scope, as machined would: delegated, accounted, in machine.slice.
  r = host->sh("systemctl show '" + scope + "' -p Slice -p Delegate -p CPUAccounting -p MemoryAccounting -p DevicePolicy");
  EXPECT_THAT(r.out, HasSubstr("Slice=machine.slice\n"));
  EXPECT_THAT(r.out, HasSubstr("Delegate=yes\n"));
  EXPECT_THAT(r.out, HasSubstr("CPUAccounting=yes\n"));
  EXPECT_THAT(r.out, HasSubstr("MemoryAccounting=yes\n"));
  EXPECT_THAT(r.out, HasSubstr("DevicePolicy=closed\n"));
  r = host->sh("systemd-cgls --no-pager -M " + m);
  EXPECT_THAT(r.out, HasSubstr("init.scope"));
  EXPECT_THAT(r.out, HasSubstr("system.slice"));
  EXPECT_THAT(r.out, HasSubstr("busybox.service"));
  r = host->sh("machinectl status --no-pager " + m);
  EXPECT_THAT(r.out, HasSubstr("Root: /var/lib/crt/pods/run/" + uuid + "/stage1/rootfs"));
  // Graceful: the app gets SIGTERM, then the pod and crt exit.
  host->sh("machinectl poweroff " + m);
  EXPECT_TRUE(eventually("cat /var/lib/crt/t.rc", "0"));
  EXPECT_THAT(host->sh("cat /var/lib/crt/t.out").out, HasSubstr("got-term"));
  EXPECT_THAT(host->sh("machinectl list --no-legend").out, Not(HasSubstr(m)));
  EXPECT_TRUE(eventually("systemctl is-active '" + scope + "'", "inactive"));
}

// machinectl reboot: the pod's apps stop in order and start again in the
// same pod (the same machine and leader, the files they wrote kept), which
// crt run goes on supervising; machinectl poweroff then ends it cleanly.
TEST(Machines, RebootStartsThePodsAppsAgainInTheSameMachine) {
  host->sh(R"(rm -f /var/lib/crt/rb.*; (crt run --net=none --uuid-file-save=/var/lib/crt/rb.uuid busybox -- /bin/sh -c "
           n=\$((\$(cat /count 2>/dev/null || echo 0) + 1)); echo \$n > /count; echo run-\$n;
           trap 'echo got-term; exit 0' TERM; while :; do sleep 0.1; done" > /var/lib/crt/rb.out 2>&1;
           echo $? > /var/lib/crt/rb.rc) > /dev/null 2>&1 &)");
  ASSERT_TRUE(eventually("cat /var/lib/crt/rb.out", "run-1"));
  std::string uuid = first_line(host->sh("cat /var/lib/crt/rb.uuid").out);
  std::string m = "crt-" + uuid;
  std::string leader = host->sh("machinectl show " + m + " -p Leader --value").out;
  ASSERT_FALSE(leader.empty());
  Result r = host->sh("machinectl reboot " + m);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(eventually("cat /var/lib/crt/rb.out", "run-2")) << host->sh("cat /var/lib/crt/rb.out").out;
  EXPECT_EQ(host->sh("cat /var/lib/crt/pods/run/" + uuid + "/overlay/apps/busybox/upper/count").out, "2\n");
  // The stop's SIGTERM reached the app's whole cgroup (its sleep: "Terminated").
  EXPECT_THAT(host->sh("cat /var/lib/crt/rb.out").out, MatchesRegex("run-1\n(Terminated\n)?got-term\nrun-2\n"));
  EXPECT_THAT(host->sh("machinectl list --no-legend").out, HasSubstr(m + " container"));
  EXPECT_EQ(host->sh("machinectl show " + m + " -p Leader --value").out, leader);
  EXPECT_EQ(host->sh("cat /var/lib/crt/rb.rc").out, "");  // crt run goes on
  EXPECT_THAT(host->sh("journalctl -M " + m + " -u pod-reboot.service -o cat --no-pager").out,
              HasSubstr("rebooting the pod: its apps start again"));
  // Twice: each SIGINT is a reboot.
  host->sh("machinectl reboot " + m);
  EXPECT_TRUE(eventually("cat /var/lib/crt/pods/run/" + uuid + "/overlay/apps/busybox/upper/count", "3"));
  host->sh("machinectl poweroff " + m);
  EXPECT_TRUE(eventually("cat /var/lib/crt/rb.rc", "0"));
  EXPECT_EQ(host->sh("cat /var/lib/crt/rb.rc").out, "0\n");
  EXPECT_THAT(host->sh("machinectl list --no-legend").out, Not(HasSubstr(m)));
  std::string scope = "machine-crt\\x2d" + std::regex_replace(uuid, std::regex("-"), "\\x2d") + ".scope";
  EXPECT_TRUE(eventually("systemctl is-active '" + scope + "'", "inactive"));
  EXPECT_EQ(host->sh("findmnt -rn -o TARGET | grep -c " + uuid).out, "0\n");
  EXPECT_TRUE(eventually("[ -z \"$(find /sys/fs/cgroup -name '*" + uuid.substr(0, 8) + "*')\" ] && echo none", "none"));
}

// crt run from a service that is not crt's own (cron's, a CI runner's)
// gives each pod a scope, as from a terminal: not that service's cgroup,
// which systemd manages and every such pod would share.
TEST(Machines, PodsRunFromAnotherServiceGetAScopeEach) {
  Result r = host->sh(
      "rm -f /var/lib/crt/c*.uuid; systemd-run --unit=cronlike --quiet /bin/sh -c "
      "'crt run --uuid-file-save=/var/lib/crt/c1.uuid busybox -- /bin/sleep 600 & "
      "crt run --uuid-file-save=/var/lib/crt/c2.uuid busybox -- /bin/sleep 600 & wait'");
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> units;
  for (const char* f : {"/var/lib/crt/c1.uuid", "/var/lib/crt/c2.uuid"}) {
    ASSERT_TRUE(eventually(std::string("cat ") + f, "-"));
    std::string m = "crt-" + first_line(host->sh(std::string("cat ") + f).out);
    ASSERT_TRUE(eventually("machinectl show " + m + " -p Unit --value", ".scope")) << host->sh("machinectl list").out;
    units.push_back(first_line(host->sh("machinectl show " + m + " -p Unit --value").out));
  }
  EXPECT_NE(units[0], units[1]);
  EXPECT_EQ(host->sh("systemctl is-active cronlike.service").out, "active\n");
  host->sh("systemctl stop cronlike.service", 60s);
  for (const auto& u : units) EXPECT_TRUE(eventually("systemctl is-active '" + u + "'", "inactive"));
}

// Two pods of one name in two state directories: the second, run in a
// unit of its own (no scope to clash), cannot be that machine. crt stop of
// it stops it, not the machine of the other.
TEST(Machines, StopOfAPodWhoseNameIsAnotherMachinesStopsThatPodOnly) {
  host->sh(
      "rm -rf /var/lib/crt/second /var/lib/crt/n*.uuid; "
      "crt --dir=/var/lib/crt/second run --pod-name=clash busybox -- /bin/sleep 600 > /dev/null 2>&1 &");
  ASSERT_TRUE(eventually("machinectl show clash -p State --value", "running"));
  Result r = host->sh(
      "systemd-run --unit=clash2 -p Delegate=yes --quiet /usr/local/bin/crt run "
      "--uuid-file-save=/var/lib/crt/n2.uuid --pod-name=clash busybox -- /bin/sleep 600");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(eventually("cat /var/lib/crt/n2.uuid", "-"));
  std::string uuid = first_line(host->sh("cat /var/lib/crt/n2.uuid").out);
  ASSERT_EQ(host->sh("crt status " + uuid + " --wait-ready=30s").status, 0);
  // crt list does not take the other's machine for this pod's.
  EXPECT_EQ(host->sh("crt list --format=json | python3 -c 'import json, sys; "
                     "print([p.get(\"machine\") for p in json.load(sys.stdin) if p[\"uuid\"] == \"" +
                     uuid + "\"])'")
                .out,
            "[None]\n");
  r = host->sh("crt stop --timeout=5s clash", 60s);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(host->sh("crt status " + uuid).out, HasSubstr("state=exited"));
  EXPECT_EQ(host->sh("machinectl show clash -p State --value").out, "running\n");
  host->sh("crt --dir=/var/lib/crt/second stop clash; crt --dir=/var/lib/crt/second rm clash; crt rm " + uuid +
               "; rm -rf /var/lib/crt/second; systemctl reset-failed clash2.service",
           60s);
}

// A pod named as one that just ended starts while systemd has not yet
// removed that one's scope (it does once it sees it empty): crt waits for
// it a moment instead of taking it for a running machine's.
TEST(Machines, APodNamedAsOneThatJustEndedStartsWhileItsScopeGoes) {
  // A scope of the machine's name, for 1.5 s and with no machine: as an
  // ended pod's is until systemd removes it.
  host->sh(
      "systemd-run --scope --quiet --slice=machine.slice --unit=machine-samename.scope /bin/sleep 1.5 "
      "> /dev/null 2>&1 &");
  ASSERT_TRUE(eventually("systemctl is-active machine-samename.scope", "active"));
  Result r = host->sh("crt --dir=/var/lib/crt/same run --net=none --pod-name=samename busybox -- /bin/true", 60s);
  EXPECT_EQ(r.status, 0) << r.err;
  // Pods of one name one after another.
  r = host->sh(
      "for i in 1 2 3 4 5; do crt --dir=/var/lib/crt/same run --net=none --pod-name=samename busybox -- "
      "/bin/true || exit 1; done",
      120s);
  EXPECT_EQ(r.status, 0) << r.err;
  host->sh("rm -rf /var/lib/crt/same");
}

TEST(Machines, KilledCrtTakesItsMachineAndScopeAlong) {
  host->sh("rm -f /var/lib/crt/k.uuid; crt run --uuid-file-save=/var/lib/crt/k.uuid busybox -- /bin/sleep 600 "
           "> /dev/null 2>&1 & echo $! > /var/lib/crt/k.pid");
  ASSERT_TRUE(eventually("cat /var/lib/crt/k.uuid", "-"));
  std::string uuid = first_line(host->sh("cat /var/lib/crt/k.uuid").out);
  std::string m = "crt-" + uuid;
  ASSERT_TRUE(eventually("machinectl show " + m + " -p Service", "Service=crt"));
  std::string scope = first_line(host->sh("machinectl show " + m + " -p Unit --value").out);
  host->sh("kill -9 $(cat /var/lib/crt/k.pid)");
  EXPECT_TRUE(eventually("machinectl list --no-legend | grep -c " + m + " || true", "0"));
  EXPECT_TRUE(eventually("systemctl is-active '" + scope + "'", "inactive"));
  EXPECT_TRUE(eventually("crt status " + uuid, "state=exited"));
}

TEST(Machines, DetachedPodIsATransientServiceAndTerminates) {
  Result r =
      host->sh("crt run --detach --stop-timeout=45s busybox -- /bin/sh -c 'echo detached-up; exec sleep 600'", 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = first_line(r.out);
  std::string unit = "crt-" + uuid + ".service";
  // The service's crt run-prepared keeps the options of starting the pod.
  EXPECT_THAT(host->sh("systemctl show " + unit + " -p ExecStart --value").out,
              HasSubstr("run-prepared --stop-timeout=45000ms " + uuid));
  r = host->sh("systemctl show " + unit +
               " -p ActiveState -p Type -p Slice -p Delegate -p KillMode -p Wants -p After "
               "-p TimeoutStopUSec");
  EXPECT_THAT(r.out, HasSubstr("ActiveState=active"));
  // gc removes the exited pod it leaves; systemd waits out crt's stop
  // timeout; at shutdown the pod stops before the bus and machined.
  EXPECT_THAT(r.out, HasSubstr("Wants=crt-gc.timer"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*After=[^\n]*dbus.service[^\n]*\n(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*After=[^\n]*systemd-machined.service[^\n]*\n(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("TimeoutStopUSec=1min 30s"));  // --stop-timeout and 45 s of cleanup
  EXPECT_THAT(r.out, HasSubstr("Type=notify"));
  EXPECT_THAT(r.out, HasSubstr("Slice=machine.slice"));
  EXPECT_THAT(r.out, HasSubstr("Delegate=yes"));
  EXPECT_THAT(r.out, HasSubstr("KillMode=mixed"));
  EXPECT_EQ(host->sh("machinectl show crt-" + uuid + " -p Unit --value").out, unit + "\n");
  EXPECT_EQ(host->sh("machinectl show crt-" + uuid + " -p Service --value").out, "crt\n");
  EXPECT_TRUE(eventually("journalctl -M crt-" + uuid + " -t busybox --no-pager", "detached-up"));
  r = host->sh("crt enter " + uuid + " -- /bin/echo entered");
  EXPECT_EQ(r.out, "entered\n") << r.err;
  host->sh("machinectl terminate crt-" + uuid);
  EXPECT_TRUE(eventually("systemctl is-active " + unit + " | grep -qxE 'failed|inactive' && echo ended", "ended"));
}

TEST(Machines, NotifyAppHoldsADetachedPodUntilReadyAndCrtStopEndsIt) {
  // notify-ready sends READY=1 after 3 s: until then the pod is not ready,
  // so neither crt run --detach returns nor is its service active.
  install_notify_ready();
  Result r = host->sh("S=$(date +%s%N); crt run --detach --volume=bin,kind=host,source=/opt/nr,readOnly=true busybox "
                      "--notify --mount=volume=bin,target=/opt/bin -- /opt/bin/notify-ready 3 && "
                      "echo ms=$(( ($(date +%s%N) - S) / 1000000 ))", 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = first_line(r.out);
  std::smatch ms;
  ASSERT_TRUE(std::regex_search(r.out, ms, std::regex("ms=([0-9]+)"))) << r.out;
  EXPECT_GE(std::stoi(ms[1]), 3000) << "ready before the app said so";
  EXPECT_EQ(host->sh("systemctl is-active crt-" + uuid + ".service").out, "active\n");
  EXPECT_THAT(host->sh("crt list --no-legend").out, HasSubstr(uuid.substr(0, 8)));
  // crt list asks machined about running pods.
  r = host->sh("crt list --format=json");
  EXPECT_THAT(r.out, HasSubstr("\"unit\": \"crt-" + uuid + ".service\""));
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"running\""));
  EXPECT_THAT(host->sh("crt logs " + uuid).out, HasSubstr("sent READY=1"));
  // crt stop goes through machined; the service ends with the pod.
  r = host->sh("crt stop " + uuid, 60s);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(eventually("crt status " + uuid, "state=exited"));
  // An orderly stop, not a failure: crt run ends by SIGTERM, a clean end.
  EXPECT_TRUE(eventually("systemctl is-active crt-" + uuid + ".service", "inactive"));
  EXPECT_EQ(host->sh("systemctl show crt-" + uuid + ".service -p Result --value").out, "success\n");
  EXPECT_THAT(host->sh("machinectl list --no-legend").out, Not(HasSubstr(uuid)));
}

// machined's poweroff is a signal to the pod's systemd, which drops it
// before it has a handler: crt stop waits for one, else the pod would be
// killed after the stop timeout (20 s).
TEST(Machines, StopOfAPodStillBootingIsOrderly) {
  Result r = host->sh(
      "rm -f /var/lib/crt/b.*; (crt run --uuid-file-save=/var/lib/crt/b.uuid busybox -- /bin/sleep 600 "
      "> /dev/null 2>&1; echo $? > /var/lib/crt/b.rc) > /dev/null 2>&1 & "
      "while [ ! -s /var/lib/crt/b.uuid ]; do sleep 0.01; done; "
      "until machinectl show crt-$(cat /var/lib/crt/b.uuid) > /dev/null 2>&1; do sleep 0.005; done; "
      "S=$(date +%s%N); crt stop $(cat /var/lib/crt/b.uuid) && echo ms=$(( ($(date +%s%N) - S) / 1000000 ))",
      90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::smatch ms;
  ASSERT_TRUE(std::regex_search(r.out, ms, std::regex("ms=([0-9]+)"))) << r.out;
  EXPECT_LT(std::stoi(ms[1]), 10000) << "the stop was lost and the pod killed";
  // crt run ends by the stop's SIGTERM, as after any orderly stop.
  EXPECT_TRUE(eventually("cat /var/lib/crt/b.rc", "143\n"));
}

TEST(Machines, ForceStopThroughMachinedKillsThePodAtOnce) {
  // The app ignores SIGTERM: an orderly stop would wait for its unit's stop
  // timeout.
  Result r = host->sh(
      "crt run --detach busybox -- /bin/sh -c \"trap '' TERM; echo force-up; while :; do sleep 0.1; "
      "done\"",
      90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = first_line(r.out);
  ASSERT_TRUE(eventually("journalctl -M crt-" + uuid + " -t busybox --no-pager", "force-up"));
  r = host->sh("S=$(date +%s%N); crt stop --force " + uuid + " && echo ms=$(( ($(date +%s%N) - S) / 1000000 ))", 60s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::smatch ms;
  ASSERT_TRUE(std::regex_search(r.out, ms, std::regex("ms=([0-9]+)"))) << r.out;
  EXPECT_LT(std::stoi(ms[1]), 5000) << "not at once";
  EXPECT_TRUE(eventually("crt status " + uuid, "state=exited"));
  EXPECT_THAT(host->sh("machinectl list --no-legend").out, Not(HasSubstr(uuid)));
}

TEST(Machines, InterruptedDetachStopsTheServiceAndRemovesThePod) {
  install_notify_ready();
  // The app would be ready in 60 s; crt is stopped while it waits.
  host->sh("rm -f /var/lib/crt/i.*; (crt run --detach --volume=bin,kind=host,source=/opt/nr,readOnly=true busybox "
           "--notify --mount=volume=bin,target=/opt/bin -- /opt/bin/notify-ready 60 > /var/lib/crt/i.out 2>&1 & "
           "echo $! > /var/lib/crt/i.pid; wait $!; echo $? > /var/lib/crt/i.rc) > /dev/null 2>&1 &");
  std::string list = "systemctl list-units --all --no-legend --plain 'crt-*-*.service'";
  ASSERT_TRUE(eventually(list, "activating", 60s)) << host->sh(list).out;
  std::smatch u;
  std::string units = host->sh(list + " | grep activating").out;
  ASSERT_TRUE(std::regex_search(units, u, std::regex("crt-([0-9a-f-]{36})\\.service"))) << units;
  std::string uuid = u[1];
  host->sh("kill -TERM $(cat /var/lib/crt/i.pid)");
  // crt ends by the signal, as crt run does; the pod is gone with it.
  ASSERT_TRUE(eventually("cat /var/lib/crt/i.rc", "143", 60s)) << host->sh("cat /var/lib/crt/i.out").out;
  EXPECT_THAT(host->sh(list).out, Not(HasSubstr(uuid))) << host->sh("cat /var/lib/crt/i.out").out;
  EXPECT_THAT(host->sh("machinectl list --no-legend").out, Not(HasSubstr(uuid)));
  EXPECT_THAT(host->sh("ls /var/lib/crt/pods/*/").out, Not(HasSubstr(uuid)));
}

TEST(Machines, DetachedPodThatFailsToStartSaysHowItsServiceEnded) {
  // A prepared pod whose manifest was damaged: the service's crt cannot
  // read it.
  Result r = host->sh("crt prepare -q busybox -- /bin/sleep 600");
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = first_line(r.out);
  std::string manifest = "/var/lib/crt/pods/prepared/" + uuid + "/pod.json";
  host->sh("cp " + manifest + " /tmp/pod.json; echo '{' > " + manifest);
  r = host->sh("crt run-prepared --detach " + uuid, 90s);
  EXPECT_EQ(r.status, 254) << r.out << r.err;
  std::string unit = "crt-" + uuid + ".service";
  // How the service ended, and what its crt said (from the journal).
  EXPECT_THAT(r.err, HasSubstr("pod " + uuid + " did not start: job of '" + unit +
                               "' failed: the service is failed "
                               "(exit-code, status 254): invalid pod manifest: "));
  EXPECT_THAT(r.err, HasSubstr("; see 'journalctl -u " + unit + "'"));
  EXPECT_EQ(host->sh("systemctl is-failed " + unit).out, "failed\n") << "systemctl status can say why";
  // Mended, the pod starts detached again: its failed service is no obstacle.
  host->sh("cp /tmp/pod.json " + manifest);
  r = host->sh("crt run-prepared --detach " + uuid, 90s);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(host->sh("systemctl is-active " + unit).out, "active\n");
  host->sh("crt stop " + uuid + "; crt rm " + uuid, 60s);
}

// crt run --detach whose pod fails to start (its host port is taken)
// leaves no prepared pod behind, as a failed crt run leaves none: its name
// is free for the next try.
TEST(Machines, FailedDetachedRunLeavesNoPod) {
  host->sh("python3 -c 'import socket, time; s = socket.socket(); s.bind((\"127.0.0.1\", 18080)); s.listen(); "
           "time.sleep(120)' > /dev/null 2>&1 & echo $! > /var/lib/crt/busy.pid");
  ASSERT_TRUE(eventually("ss -ltn", "127.0.0.1:18080"));
  std::string run = "crt run --detach --pod-name=busyport --port=127.0.0.1:18080:80 busybox -- /bin/sleep 600";
  Result r = host->sh(run, 90s);
  EXPECT_EQ(r.status, 254) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("did not start"));
  // What the service's crt said, from the journal.
  EXPECT_THAT(r.err, HasSubstr("is in use"));
  EXPECT_THAT(host->sh("crt list --no-legend").out, Not(HasSubstr("busyport")));
  host->sh("kill $(cat /var/lib/crt/busy.pid)");
  ASSERT_TRUE(eventually("ss -ltn | grep -c 127.0.0.1:18080 || true", "0"));
  r = host->sh(run, 90s);
  EXPECT_EQ(r.status, 0) << r.err;
  host->sh("crt stop busyport; crt rm busyport", 60s);
}

TEST(Machines, NotifyAppFailingBeforeReadyNeverMakesThePodReady) {
  // The pod's systemd counts its start as done once the app's start job has
  // failed, and says READY=1 while the pod is already ending: a race crt run
  // --detach used to lose now and then.
  for (int i = 0; i < 8; ++i) {
    Result r = host->sh("crt run --detach busybox --notify -- /bin/sh -c 'exit 7'", 90s);
    ASSERT_EQ(r.status, 254) << "run " << i << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("failed: the service is failed (exit-code, status 7)"));
  }
  host->sh("systemctl reset-failed 'crt-*.service'");
}

TEST(Machines, DetachedPodWhoseAppsEndBeforeItIsReadyHasStarted) {
  // A pod whose apps all ended well before its systemd said READY=1 ran:
  // its start is no failure. `held` holds the pod's readiness for ever;
  // `quick` ends the pod at once. An app that ends at once races the
  // pod's readiness the same way, and loses it under load.
  std::string held = "busybox --name=held --notify -- /bin/sleep 600";
  for (const std::string& pod : {"--exit-policy=on-any-exit busybox --name=quick -- /bin/true --- " + held,
                                 std::string("busybox --name=quick -- /bin/true")}) {
    Result r = host->sh("crt run --detach " + pod, 90s);
    ASSERT_EQ(r.status, 0) << pod << ": " << r.out << r.err;
    std::string uuid = first_line(r.out);
    std::string unit = "crt-" + uuid + ".service";
    EXPECT_EQ(host->sh("crt status " + uuid + " --wait=60s").status, 0);
    EXPECT_THAT(host->sh("crt status " + uuid).out, HasSubstr("app-quick=0"));
    EXPECT_EQ(host->sh("crt status --wait-ready=10s " + uuid).status, 0) << "it started, as its unit was told";
    EXPECT_TRUE(eventually("systemctl is-active " + unit + " || true", "inactive"))
        << host->sh("systemctl status " + unit).out;
    host->sh("crt rm " + uuid);
  }
}

// --detach --rm: the service's crt removes the pod at its end, however it
// ends (the app's end, or a stop), and the service still tells how the app
// ended.
TEST(Machines, DetachedPodWithRmIsRemovedAtItsEnd) {
  Result r = host->sh("crt run --detach --rm busybox -- /bin/sh -c 'echo rm-up; sleep 1; exit 3'", 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = first_line(r.out);
  std::string unit = "crt-" + uuid + ".service";
  EXPECT_TRUE(eventually("systemctl is-active " + unit + " || true", "failed"))
      << host->sh("systemctl status " + unit).out;
  EXPECT_EQ(host->sh("systemctl show " + unit + " -p ExecMainStatus --value").out, "3\n");
  EXPECT_THAT(host->sh("journalctl -u " + unit + " --no-pager -o cat").out, HasSubstr("rm-up"));
  r = host->sh("crt status " + uuid);
  EXPECT_EQ(r.status, 254) << r.out;
  EXPECT_THAT(r.err, HasSubstr("no pod"));
  EXPECT_EQ(host->sh("ls /var/lib/crt/pods/*/ | grep -c " + uuid).out, "0\n");
  host->sh("systemctl reset-failed " + unit);

  r = host->sh("crt run --detach --rm busybox -- /bin/sleep 600", 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  uuid = first_line(r.out);
  EXPECT_EQ(host->sh("crt stop " + uuid, 90s).status, 0);
  EXPECT_TRUE(eventually("crt status " + uuid + " 2>&1 || true", "no pod"));
  host->sh("systemctl reset-failed crt-" + uuid + ".service");
}

TEST(Machines, PreparedPodRunsDetached) {
  Result r = host->sh("crt prepare -q busybox -- /bin/sh -c 'echo prepared-detached-up; exec sleep 600'", 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = first_line(r.out);
  r = host->sh("crt run-prepared --detach " + uuid.substr(0, 8), 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, uuid + "\n");
  std::string unit = "crt-" + uuid + ".service";
  EXPECT_EQ(host->sh("systemctl is-active " + unit).out, "active\n");
  EXPECT_EQ(host->sh("machinectl show crt-" + uuid + " -p Unit --value").out, unit + "\n");
  EXPECT_TRUE(eventually("journalctl -M crt-" + uuid + " -t busybox --no-pager", "prepared-detached-up"));
  r = host->sh("crt run-prepared --detach " + uuid);
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is running, not prepared"));
  host->sh("machinectl terminate crt-" + uuid);
  EXPECT_TRUE(eventually("systemctl is-active " + unit + " | grep -qxE 'failed|inactive' && echo ended", "ended"));
}

TEST(Machines, DetachNeedsNoTerminalAndFailsClearlyWithoutAnImage) {
  Result r = host->sh("crt run --detach no-such-image");
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no-such-image"));
}

TEST(Template, StopSendsSigtermAndExitStatusReachesTheUnit) {
  host->sh(busybox_dropin("trap 'echo got-term; exit 3' TERM; echo tmpl-up; while :; do sleep 0.1; done", ""));
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  EXPECT_EQ(r.out, "active\n") << r.err;
  std::string m = machine_of_unit("crt@busybox.service");
  ASSERT_FALSE(m.empty());
  std::string uuid = m.substr(4);
  EXPECT_EQ(host->sh("machinectl show " + m + " -p Service --value").out, "crt\n");
  // systemctl status names the pod the unit runs.
  EXPECT_EQ(host->sh("systemctl show crt@busybox.service -p StatusText --value").out,
            "pod " + uuid + " (machine " + m + ") running; apps: busybox\n");
  EXPECT_TRUE(eventually("journalctl -M " + m + " -t busybox --no-pager", "tmpl-up"));
  // The pod runs under the unit's cgroup, not a scope of its own: crt enter
  // and crt inspect find its app there.
  r = host->sh("crt enter " + uuid + " -- /bin/echo entered");
  EXPECT_EQ(r.out, "entered\n") << r.err;
  EXPECT_THAT(host->sh("crt inspect --format=json " + uuid).out, HasSubstr("\"running\": true"));
  r = host->sh("systemctl stop crt@busybox.service; systemctl show crt@busybox.service -p Result -p ExecMainStatus", 60s);
  EXPECT_THAT(r.out, HasSubstr("Result=exit-code"));
  EXPECT_THAT(r.out, HasSubstr("ExecMainStatus=3"));
  // Nothing of the unit's cgroup stays, also in the v1 hierarchies of a
  // hybrid host whose controllers systemd does not manage (crt made its
  // directories there for the pod's systemd).
  EXPECT_EQ(host->sh("find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -path '*/machine.slice/crt@busybox.service'").out,
            "");
  // The app's output, its last line included, outlives the pod.
  r = host->sh("journalctl --no-pager -o cat -t busybox -D /var/lib/crt/pods/run/" + uuid +
               "/overlay/stage1/upper/var/log/journal");
  EXPECT_THAT(r.out, HasSubstr("tmpl-up"));
  EXPECT_THAT(r.out, HasSubstr("got-term"));
  // crt logs reads the same journal after the pod is gone.
  r = host->sh("crt logs " + uuid);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tmpl-up"));
  EXPECT_THAT(r.out, HasSubstr("got-term"));
  host->sh("systemctl reset-failed crt@busybox.service");
}

// A crt killed in its unit leaves the pod's directories in a v1 hierarchy
// systemd does not manage (a hybrid host's); the unit's next pod removes
// them with its own, or crt gc once the unit is no longer active.
TEST(Template, TheNextPodOfAUnitWhoseCrtWasKilledRemovesWhatThatLeft) {
  std::string left = "find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -path '*/machine.slice/crt@busybox.service'";
  host->sh(busybox_dropin("echo up; exec sleep 600", ""));
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  host->sh("systemctl kill -s KILL --kill-who=main crt@busybox.service");
  std::string state = "systemctl show crt@busybox.service -p ActiveState";
  EXPECT_TRUE(eventually(state + " | grep -E '=(inactive|failed)'", "ActiveState=", 30s)) << host->sh(state).out;
  host->sh("systemctl reset-failed crt@busybox.service");
  r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  host->sh("systemctl stop crt@busybox.service; systemctl reset-failed crt@busybox.service", 60s);
  EXPECT_EQ(host->sh(left).out, "");
  // Or crt gc does, once the unit is no longer active.
  host->sh("systemctl start crt@busybox.service", 90s);
  host->sh("systemctl kill -s KILL --kill-who=main crt@busybox.service");
  EXPECT_TRUE(eventually(state + " | grep -E '=(inactive|failed)'", "ActiveState=", 30s)) << host->sh(state).out;
  host->sh("systemctl reset-failed crt@busybox.service");
  r = host->sh("crt gc --grace-period=0s");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(host->sh(left).out, "");
}

// machined keeps a machine while its unit lives, and a unit that restarts
// does not end: the pod of a crt killed in it stayed listed, dead, and held
// its name (a pod file's Name=) against the next run's pod. The next run
// forgets it and registers its own.
TEST(Template, ARestartAfterCrtWasKilledRegistersTheNewPod) {
  host->sh(busybox_dropin("echo up; exec sleep 600", "--pod-name=again", "Restart=always\nRestartSec=100ms\n"));
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  std::string leader = "machinectl show again -p Leader --value";
  ASSERT_TRUE(eventually(leader, "\n"));
  std::string first = host->sh(leader).out;
  host->sh("systemctl kill -s KILL --kill-who=main crt@busybox.service");
  std::string alive = "L=$(" + leader + ") && [ \"$L\" != '" + first_line(first) +
                      "' ] && [ -d /proc/$L ] && systemctl is-active crt@busybox.service";
  EXPECT_TRUE(eventually(alive, "active\n", 60s)) << host->sh("machinectl status again; " + leader).out;
  r = host->sh("journalctl -u crt@busybox.service --no-pager -o cat");
  EXPECT_THAT(r.out, HasSubstr("forgot machine 'again' of an earlier run of crt@busybox.service (its crt ended"));
  EXPECT_THAT(r.out, Not(HasSubstr("already exists")));
  // The host's journalctl finds the new pod's journal through nspawn's link.
  r = host->sh("journalctl -m --no-pager -o cat _MACHINE_ID=$(machinectl show again -p Id --value | tr -d -)");
  EXPECT_THAT(r.out, HasSubstr("up\n")) << r.err;
  host->sh("systemctl stop crt@busybox.service; systemctl reset-failed crt@busybox.service", 60s);
}

// An app that ends shows in systemctl status, and so does a pod that stops
// as its exit policy says.
TEST(Template, AnAppsEndShowsInTheUnitsStatus) {
  host->sh(
      "mkdir -p /etc/systemd/system/crt@busybox.service.d && cat > /etc/systemd/system/crt@busybox.service.d/test.conf "
      "<<'EOF'\n[Service]\nExecStart=\nExecStart=/usr/local/bin/crt run --exit-policy=on-any-failure "
      "busybox -- /bin/sh -c \"trap 'sleep 6; exit 0' TERM; while :; do sleep 0.1; done\" "
      "--- busybox --name=quick -- /bin/true "
      "--- busybox --name=bad -- /bin/sh -c \"sleep 4; exit 3\"\nEOF\nsystemctl daemon-reload");
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  std::string status = "systemctl show crt@busybox.service -p StatusText --value";
  EXPECT_TRUE(eventually(status, ") running; apps: busybox bad; ended: quick (exited 0)\n")) << host->sh(status).out;
  // Busybox's own end (6 s after the stop) may come before a slow look:
  // then it is listed after them.
  EXPECT_TRUE(eventually(status, ") stopping; ended: quick (exited 0), bad (exited 3)")) << host->sh(status).out;
  EXPECT_TRUE(eventually("systemctl is-failed crt@busybox.service", "failed", 30s));
  EXPECT_THAT(host->sh("systemctl show crt@busybox.service -p ExecMainStatus").out, HasSubstr("ExecMainStatus=3\n"));
  EXPECT_THAT(host->sh(status).out, HasSubstr(") ended, status 3; ended: quick (exited 0), bad (exited 3)"));
  host->sh("systemctl reset-failed crt@busybox.service");
}

// A pod unit's pod rebooted (machinectl reboot) stays the unit's: the unit
// stays active with the same crt run, and stops cleanly afterwards.
TEST(Template, ARebootKeepsThePodsUnitActive) {
  host->sh(
      "mkdir -p /etc/systemd/system/crt@busybox.service.d && cat > /etc/systemd/system/crt@busybox.service.d/test.conf "
      "<<'EOF'\n[Service]\nExecStart=\nExecStart=/usr/local/bin/crt run --net=none busybox -- /bin/sh -c "
      "\"echo busybox-up; exec sleep 600\" --- busybox --name=quick -- /bin/echo quick-ran\nEOF\n"
      "systemctl daemon-reload");
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  std::string status = "systemctl show crt@busybox.service -p StatusText --value";
  EXPECT_TRUE(eventually(status, ") running; apps: busybox; ended: quick (exited 0)\n")) << host->sh(status).out;
  std::string machine = machine_of_unit("crt@busybox.service");
  ASSERT_FALSE(machine.empty());
  std::string main_pid = host->sh("systemctl show crt@busybox.service -p MainPID --value").out;
  std::string runs = "journalctl -M " + machine + " -t quick -o cat --no-pager | grep -c quick-ran";
  EXPECT_TRUE(eventually(runs, "1"));
  EXPECT_EQ(host->sh("machinectl reboot " + machine).status, 0);
  EXPECT_TRUE(eventually(runs, "2")) << host->sh(runs).out;
  EXPECT_TRUE(eventually("journalctl -M " + machine + " -t busybox -o cat --no-pager | grep -c busybox-up", "2"));
  EXPECT_TRUE(eventually(status, ") running; apps: busybox; ended: quick (exited 0)\n")) << host->sh(status).out;
  EXPECT_EQ(host->sh("systemctl is-active crt@busybox.service").out, "active\n");
  EXPECT_EQ(host->sh("systemctl show crt@busybox.service -p MainPID --value").out, main_pid);
  r = host->sh(
      "systemctl stop crt@busybox.service; systemctl is-active crt@busybox.service; "
      "systemctl show crt@busybox.service -p Result",
      60s);
  EXPECT_EQ(r.out, "inactive\nResult=success\n");
  host->sh("rm /etc/systemd/system/crt@busybox.service.d/test.conf; systemctl daemon-reload");
}

// A pod killed (crt stop --force): the unit's status says it ended, not
// "running" as it did when it last changed.
TEST(Template, AKilledPodShowsInTheUnitsStatus) {
  host->sh(busybox_dropin("echo up; exec sleep 600", ""));
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  std::string machine = machine_of_unit("crt@busybox.service");
  ASSERT_THAT(machine, StartsWith("crt-"));
  r = host->sh("crt stop --force " + machine.substr(4), 60s);
  EXPECT_EQ(r.status, 0) << r.err;
  std::string status = "systemctl show crt@busybox.service -p StatusText --value";
  EXPECT_TRUE(eventually("systemctl is-failed crt@busybox.service", "failed", 30s));
  EXPECT_THAT(host->sh(status).out, HasSubstr(") ended, status 137"));
  host->sh("systemctl reset-failed crt@busybox.service");
}

TEST(Template, RestartPolicyRestartsThePod) {
  host->sh(busybox_dropin("echo run; exit 1", "", "Restart=on-failure\nRestartSec=100ms\nStartLimitBurst=100\n"));
  host->sh("systemctl start crt@busybox.service", 60s);
  EXPECT_TRUE(eventually("[ \"$(systemctl show crt@busybox.service -p NRestarts --value)\" -ge 2 ] && echo restarted",
                         "restarted", 40s));
  host->sh("systemctl stop crt@busybox.service; systemctl reset-failed crt@busybox.service", 60s);
}

// With --rm, a unit that fails and restarts again and again leaves no pod
// behind at each start: only its apps' output, in the unit's journal.
TEST(Template, ARestartingUnitWithRmLeavesNoPods) {
  host->sh(busybox_dropin("echo rm-run; exit 1", "--rm --net=none --pod-name=rmloop",
                          "Restart=on-failure\nRestartSec=100ms\nStartLimitBurst=100\n"));
  host->sh("systemctl start crt@busybox.service", 60s);
  EXPECT_TRUE(eventually("[ \"$(systemctl show crt@busybox.service -p NRestarts --value)\" -ge 2 ] && echo restarted",
                         "restarted", 40s));
  host->sh("systemctl stop crt@busybox.service; systemctl reset-failed crt@busybox.service", 60s);
  Result r = host->sh("crt list");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("rmloop")));
  r = host->sh("journalctl -u crt@busybox.service --no-pager -o cat | grep -c rm-run");
  EXPECT_GE(std::atoi(r.out.c_str()), 2) << r.out;
}

// An app killed by SIGTERM that no stop sent (crt run exits 143) is a
// failure, which Restart=on-failure restarts; a stop is not (crt run ends by
// the stop's signal): Template.StoppedPodUnitIsInactiveNotFailed.
TEST(Template, AnAppDyingOfSigtermByItselfFailsTheUnit) {
  host->sh(busybox_dropin("echo up; sleep 1; kill -TERM $$$$", "",
                          "Restart=on-failure\nRestartSec=100ms\nStartLimitBurst=100\n"));
  host->sh("systemctl start crt@busybox.service", 60s);
  EXPECT_TRUE(eventually("[ \"$(systemctl show crt@busybox.service -p NRestarts --value)\" -ge 1 ] && echo restarted",
                         "restarted", 40s));
  EXPECT_THAT(host->sh("journalctl -u crt@busybox.service --no-pager -o cat").out,
              HasSubstr("Main process exited, code=exited, status=143/n/a"));
  host->sh("systemctl stop crt@busybox.service; systemctl reset-failed crt@busybox.service", 60s);
}

// A --stop-timeout longer than the unit's TimeoutStopSec=: crt run, told to
// stop, asks systemd to wait for it (EXTEND_TIMEOUT_USEC=) rather than be
// killed half-way.
TEST(Template, StopWaitsForAStopTimeoutLongerThanTheUnits) {
  host->sh(busybox_dropin("trap \\\"\\\" TERM; echo up; while :; do sleep 0.1; done", "--stop-timeout=4s",
                          "TimeoutStopSec=1s\n"));
  Result r = host->sh("systemctl start crt@busybox.service && systemctl is-active crt@busybox.service", 90s);
  ASSERT_EQ(r.out, "active\n") << r.err;
  r = host->sh("systemctl stop crt@busybox.service; systemctl show crt@busybox.service -p Result", 60s);
  EXPECT_THAT(r.out, Not(HasSubstr("Result=timeout")));
  EXPECT_THAT(host->sh("journalctl -u crt@busybox.service --no-pager -o cat -n 30").out,
              Not(HasSubstr("State 'stop-sigterm' timed out")));
  host->sh("systemctl reset-failed crt@busybox.service");
}

TEST(Template, StoppedPodUnitIsInactiveNotFailed) {
  host->sh(busybox_dropin("echo up; exec sleep 600", "", "Restart=on-failure\nRestartSec=100ms\n"));
  expect_clean_stops("crt@busybox.service");
  host->sh("systemctl stop crt@busybox.service; systemctl reset-failed crt@busybox.service", 60s);
}

TEST(Template, FullImageReferenceThroughSystemdEscape) {
  Result r = host->sh("set -e; R=/var/lib/crt/nginx-rootfs; mkdir -p $R/bin; cp /bin/busybox $R/bin/; "
                      "for c in sh sleep echo; do ln -sf busybox $R/bin/$c; done; "
                      "crt image import $R docker.io/library/nginx:latest --cmd=/bin/sh --cmd=-c "
                      "'--cmd=echo nginx-up; exec sleep 600' >/dev/null; "
                      "U=crt@$(systemd-escape docker.io/library/nginx:latest).service; "
                      "rm -rf /etc/systemd/system/crt@busybox.service.d; systemctl daemon-reload; "
                      "systemctl start \"$U\"; systemctl is-active \"$U\"; echo \"$U\"", 90s);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("active\ncrt@docker.io-library-nginx:latest.service\n"));
  std::string m = machine_of_unit("crt@docker.io-library-nginx:latest.service");
  EXPECT_TRUE(eventually("journalctl -M " + m + " -t nginx --no-pager", "nginx-up"));
  host->sh("systemctl stop 'crt@docker.io-library-nginx:latest.service'", 60s);
}

// A unit of one's own may run pods one after another. On a cgroup v2 host
// nspawn enables controllers in the unit's cgroup for its pod; while they
// stay enabled no process can join that cgroup, so they must be off again
// once the pod has ended.
TEST(Machines, AUnitRunsPodsOneAfterAnother) {
  if (host->sh("stat -fc %T /sys/fs/cgroup").out != "cgroup2fs\n") GTEST_SKIP() << "v1: no controllers to enable";
  // This machine's v2 hierarchy has none nspawn knows of: the test enables
  // hugetlb while the first pod runs, as nspawn enables its own.
  bool in_nspawns_stead = host->pass_v2_controller("hugetlb");
  host->sh(
      "cat > /etc/systemd/system/two-pods.service <<'EOF'\n[Service]\nType=oneshot\nDelegate=yes\n"
      "ExecStart=/usr/local/bin/crt run --net=none busybox -- /bin/sh -c 'sleep 3; echo first-pod'\n"
      "ExecStart=/usr/local/bin/crt run --net=none busybox -- /bin/echo second-pod\nEOF\n"
      "systemctl daemon-reload; systemctl start --no-block two-pods.service");
  std::string unit_cgroup = "/sys/fs/cgroup/system.slice/two-pods.service";
  ASSERT_TRUE(eventually("ls " + unit_cgroup, "payload"));
  if (in_nspawns_stead) {
    ASSERT_EQ(host->sh("echo +hugetlb > " + unit_cgroup + "/cgroup.subtree_control").status, 0);
  }
  // Else nspawn's own, if any: without one nothing is shown.
  bool enabled = !host->sh("cat " + unit_cgroup + "/cgroup.subtree_control").out.empty();
  std::string state = "systemctl show two-pods.service -p ActiveState -p Result";
  EXPECT_TRUE(eventually(state, "Result=success\nActiveState=inactive", 60s)) << host->sh(state).out;
  std::string log = host->sh("journalctl -u two-pods.service --no-pager").out;
  EXPECT_THAT(log, HasSubstr("first-pod"));
  EXPECT_THAT(log, HasSubstr("second-pod"));
  host->sh("rm /etc/systemd/system/two-pods.service; systemctl daemon-reload");
  if (!enabled) GTEST_SKIP() << "no controller was enabled in the unit's cgroup: the test showed nothing";
}

TEST(Limits, CgtopShowsThePodCpuLimitedAndItsMemory) {
  // A test host booted with the unified hierarchy alone on a hybrid machine
  // has it without controllers.
  std::string controllers = " " + first_line(host->sh("cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null").out) + " ";
  if (host->sh("stat -fc %T /sys/fs/cgroup").out == "cgroup2fs\n" &&
      (controllers.find(" memory ") == std::string::npos || controllers.find(" cpu ") == std::string::npos))
    GTEST_SKIP() << "the test host's cgroup v2 hierarchy has no memory or cpu controller";
  host->sh("rm -f /var/lib/crt/l.uuid; crt run --uuid-file-save=/var/lib/crt/l.uuid --memory=100M --cpu=200m busybox -- "
           "/bin/sh -c 'yes > /dev/null' > /dev/null 2>&1 &");
  ASSERT_TRUE(eventually("cat /var/lib/crt/l.uuid", "-"));
  std::string uuid = first_line(host->sh("cat /var/lib/crt/l.uuid").out);
  std::string m = "crt-" + uuid;
  ASSERT_TRUE(eventually("machinectl list --no-legend", m));
  std::string scope = first_line(host->sh("machinectl show " + m + " -p Unit --value").out);
  // The machine is registered as the pod boots; its app starts a moment later.
  EXPECT_TRUE(eventually("systemd-cgls --no-pager -M " + m, "busybox.service"));
  Result r = host->sh("systemd-cgls --no-pager -M " + m);
  EXPECT_THAT(r.out, HasSubstr("init.scope"));
  // The pod's row: tasks, %CPU, memory.
  r = host->sh("sleep 1; systemd-cgtop -b -n 3 -d 1 --raw -P | grep -F 'machine.slice/" + scope + " ' | tail -1", 30s);
  std::istringstream row(r.out);
  std::string cg, tasks, memory;
  double cpu = -1;
  row >> cg >> tasks >> cpu >> memory;
  EXPECT_GT(cpu, 12.0) << r.out;
  EXPECT_LT(cpu, 30.0) << r.out;
  EXPECT_NE(memory, "-") << r.out;
  std::string app = "machine.slice/" + scope + "/payload/system.slice/busybox.service";
  r = host->sh("if [ -e /sys/fs/cgroup/cgroup.controllers ]; then cat '/sys/fs/cgroup/" + app + "/memory.max' '/sys/fs/cgroup/" +
               app + "/cpu.max'; else cat '/sys/fs/cgroup/memory/" + app + "/memory.limit_in_bytes' '/sys/fs/cgroup/cpu/" + app +
               "/cpu.cfs_quota_us' '/sys/fs/cgroup/cpu/" + app + "/cpu.cfs_period_us'; fi");
  EXPECT_THAT(r.out, AnyOf(HasSubstr("99999744\n20000\n100000\n"), HasSubstr("100000000\n20000 100000\n")));
  host->sh("machinectl terminate " + m);
  EXPECT_TRUE(eventually("machinectl list --no-legend | grep -c " + m + " || true", "0"));
}

// A limit the pod's cgroup cannot keep, for want of the controller, is
// said (on this hybrid machine, a test host with the unified hierarchy has
// none); one it can keep is not.
TEST(Limits, ALimitTheHostCannotKeepIsSaidSo) {
  if (host->sh("stat -fc %T /sys/fs/cgroup").out != "cgroup2fs\n") GTEST_SKIP() << "v1 controllers: always there";
  std::string controllers = " " + first_line(host->sh("cat /sys/fs/cgroup/cgroup.controllers").out) + " ";
  Result r = host->sh("crt run --net=none busybox --memory=100M --pids-limit=50 -- /bin/true", 90s);
  EXPECT_EQ(r.status, 0) << r.err;
  for (const std::string& c : {std::string("memory"), std::string("pids")}) {
    std::string warning = "crt: warning: the host gives the pod no " + c + " controller";
    if (controllers.find(" " + c + " ") == std::string::npos)
      EXPECT_THAT(r.err, HasSubstr(warning)) << r.err;
    else
      EXPECT_THAT(r.err, Not(HasSubstr(warning))) << r.err;
  }
  EXPECT_THAT(r.err, Not(HasSubstr("cpu controller")));  // no CPU limit asked for
  r = host->sh("crt run --net=none busybox -- /bin/true", 90s);
  EXPECT_EQ(r.err, "");
}

// On a host with the unified cgroup hierarchy alone (Debian 12's), the
// pod's systemd cannot apply its apps' DevicePolicy= (that takes BPF, which
// the pod's system call filter denies, as nspawn's does): the unit the pod
// runs in holds its device policy, whichever kind of unit it is. An app
// (root, with CAP_MKNOD) then cannot make and open a device of the host's.
TEST(Devices, AppsReachNoHostDeviceOnACgroupV2Host) {
  const std::string probe =
      "mknod /fuse c 10 229 2>/dev/null; [ -c /fuse ] && exec 3<>/fuse && echo opened; echo probed";
  TestHost::Options o;
  o.build_dir = BUILD_DIR;
  o.unified = true;
  o.files = {{"/etc/crt/pods/probe.pod", "[App probe]\nImage=busybox\nArgs=/bin/sh -c \"" + probe + "\"\n"}};
  TestHost v2(o);
  ASSERT_EQ(v2.sh("stat -fc %T /sys/fs/cgroup").out, "cgroup2fs\n");
  // A scope of its own, run from a shell.
  Result r = v2.sh("crt run --net=none busybox -- /bin/sh -c '" + probe + "'", 90s);
  EXPECT_EQ(r.out, "probed\n") << "a pod in a scope: " << r.err;
  // crt@.service.
  r = v2.sh(
      "mkdir -p /etc/systemd/system/crt@busybox.service.d && cat > "
      "/etc/systemd/system/crt@busybox.service.d/probe.conf <<'EOF'\n[Service]\nExecStart=\n"
      "ExecStart=/usr/local/bin/crt run --net=none busybox -- /bin/sh -c \"" +
          probe +
          "\"\nEOF\n"
          "systemctl daemon-reload && systemctl start crt@busybox.service",
      90s);
  EXPECT_EQ(r.status, 0) << r.err;
  // A pod file's unit.
  r = v2.sh("systemctl start crt-probe.service", 90s);
  EXPECT_EQ(r.status, 0) << r.err;
  // A detached pod's service.
  r = v2.sh("crt run --detach --net=none busybox -- /bin/sh -c '" + probe + "'", 90s);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string detached = "crt-" + first_line(r.out) + ".service";
  for (const std::string& unit : {std::string("crt@busybox.service"), std::string("crt-probe.service"), detached}) {
    std::string log = "journalctl -u " + unit + " -o cat --no-pager";
    bool ended = false;
    for (auto until = std::chrono::steady_clock::now() + 30s; !ended && std::chrono::steady_clock::now() < until;
         std::this_thread::sleep_for(200ms))
      ended = v2.sh(log).out.find("probed") != std::string::npos;
    EXPECT_TRUE(ended) << unit << ": " << v2.sh(log).out;
    EXPECT_THAT(v2.sh(log).out, Not(HasSubstr("opened"))) << unit;
    EXPECT_THAT(v2.sh(log).out, Not(HasSubstr("DevicePolicy"))) << unit;
  }
  // A host without systemd: crt attaches the device filter itself.
  TestHost::Options bare_options = o;
  bare_options.boot = false;
  bare_options.files = {};
  TestHost bare(bare_options);
  ASSERT_EQ(bare.sh("stat -fc %T /sys/fs/cgroup; [ -d /run/systemd/system ] || echo no-systemd").out,
            "cgroup2fs\nno-systemd\n");
  r = bare.sh("crt run --net=none busybox -- /bin/sh -c '" + probe + "'", 90s);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "probed\n") << "a pod without systemd on the host: " << r.err;
  // What a pod may use it still can.
  r = bare.sh(
      "crt run --net=none busybox -- /bin/sh -c 'echo x > /dev/null && head -c 3 /dev/urandom | wc -c && "
      "head -c 2 /dev/zero | wc -c'",
      90s);
  EXPECT_EQ(r.out, "3\n2\n") << r.err;
  // A unit of the admin's own that gives crt its cgroup but no device
  // policy: crt says what it lacks, and indeed the app reaches the device
  // (which shows that the probe can tell).
  auto own_unit = [&](const std::string& properties) {
    return v2.sh("systemd-run --quiet --wait --pipe --unit=own-pod -p Delegate=yes " + properties +
                     " /usr/local/bin/crt run --net=none busybox -- /bin/sh -c '" + probe + "'",
                 90s);
  };
  r = own_unit("");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "opened\nprobed\n");
  EXPECT_THAT(r.err, HasSubstr("crt: warning: unit 'own-pod.service' has no DevicePolicy=: on this cgroup v2 host, "
                               "unless its slice has one, nothing keeps its pod's apps from the host's devices (give "
                               "it DevicePolicy=closed and the DeviceAllow= lines of crt@.service)\n"));
  r = own_unit("-p DevicePolicy=closed");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "probed\n");
  EXPECT_THAT(r.err, Not(HasSubstr("DevicePolicy")));
}

// Last: crt gc with no grace period removes every exited pod of the host.
TEST(Gc, PodUnitsStartTheGcTimerWhoseServiceRemovesExitedPods) {
  // The pod file's unit, started at boot, pulled the timer in.
  Result r = host->sh(
      "systemctl is-active crt-gc.timer; systemctl show crt-booted.service -p Wants -p After "
      "-p RequiresMountsFor");
  EXPECT_THAT(r.out, StartsWith("active\n"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*Wants=[^\n]*crt-gc.timer(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*After=[^\n]*network-online.target(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("RequiresMountsFor=/var/lib/crt\n"));
  r = host->sh("systemctl show crt@busybox.service -p Wants -p RequiresMountsFor");
  EXPECT_THAT(r.out, HasSubstr("crt-gc.timer"));
  EXPECT_THAT(r.out, HasSubstr("RequiresMountsFor=/var/lib/crt\n"));
  // The service's first run marks an exited pod; a run after the grace
  // period removes it.
  r = host->sh(
      "rm -f /var/lib/crt/gc.uuid; crt run --uuid-file-save=/var/lib/crt/gc.uuid busybox -- /bin/true && "
      "systemctl start crt-gc.service && crt status $(cat /var/lib/crt/gc.uuid)",
      60s);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state=exited garbage\n"));
  r = host->sh(
      "mkdir -p /etc/systemd/system/crt-gc.service.d && printf "
      "'[Service]\\nEnvironment=CRT_GC_ARGS=--grace-period=0s\\n' "
      "> /etc/systemd/system/crt-gc.service.d/test.conf && systemctl daemon-reload && systemctl start crt-gc.service; "
      "crt status $(cat /var/lib/crt/gc.uuid)",
      60s);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_THAT(r.err, HasSubstr("no pod"));
  EXPECT_EQ(host->sh("systemctl show crt-gc.service -p Result --value").out, "success\n");
  host->sh("rm -r /etc/systemd/system/crt-gc.service.d; systemctl daemon-reload");
}

class HostEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    TestHost::Options o;
    o.build_dir = BUILD_DIR;
    o.files = {{"/etc/crt/pods/booted.pod", kBootPod}, {"/etc/crt/pods/broken.pod", kBrokenPod}};
    o.unified = std::getenv("CRT_TEST_HOST_UNIFIED") != nullptr;
    host_ = std::make_unique<TestHost>(o);
    host = host_.get();
    std::printf("test host booted in %.1f s\n", host->boot_seconds());
  }
  void TearDown() override {
    host = nullptr;
    host_.reset();
  }

 private:
  std::unique_ptr<TestHost> host_;
};

}  // namespace
}  // namespace crt::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (::geteuid() != 0) {
    std::puts("host tests need root: skipped");
    return 0;
  }
  // On a machine with the unified hierarchy alone, every test host is so:
  // the second run would repeat the first.
  if (std::getenv("CRT_TEST_HOST_UNIFIED") != nullptr && crt::cgroup::detect_layout().unified()) {
    std::puts("this machine has the unified cgroup hierarchy alone: host-tests covers it");
    return 0;
  }
  // The test host's mounts live and die with this process.
  crt::mount::enter_private_mount_namespace();
  ::testing::AddGlobalTestEnvironment(new crt::test::HostEnvironment);
  return RUN_ALL_TESTS();
}
