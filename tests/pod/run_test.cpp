// crt run end to end: output, exit statuses, multi-app pods.

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <sstream>

#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;

class RunTest : public PodTest {};

TEST_F(RunTest, EchoHelloPrintsHelloAndExitsZero) {
  Result r = crt({"run", "busybox", "--", "/bin/echo", "hello"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(pods("run").size(), 1U);
  EXPECT_TRUE(pods("prepare").empty());
}

// A --dir whose pod directories' paths are too long for a socket (108
// bytes): the pod still runs, and leaves no socket behind.
TEST_F(RunTest, ALongStateDirectoryWorks) {
  std::string dir = dir_ + "/" + std::string(70, 'd');
  Result r = run({crt_bin_, "--dir=" + dir, "run", "busybox", "--", "/bin/echo", "hello"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  std::string uuid;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/pods/run")) uuid = e.path().filename();
  EXPECT_FALSE(std::filesystem::exists("/run/crt/notify-" + uuid));
  EXPECT_EQ(run({crt_bin_, "--dir=" + dir, "rm", uuid}).status, 0);
}

TEST_F(RunTest, ExitStatusIsTheAppsOne) {
  for (int code : {0, 1, 42}) {
    Result r = crt({"run", "busybox", "--", "/bin/sh", "-c", "exit " + std::to_string(code)});
    EXPECT_EQ(r.status, code) << r.err;
  }
}

TEST_F(RunTest, KilledAppGivesShellStyleStatus) {
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.status, 128 + 9) << r.err;
}

TEST_F(RunTest, StdoutAndStderrOfTheAppReachTheUsersByteForByte) {
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c",
                  "echo out; echo err >&2; printf 'a\\0b\\r\\n\\tx'; printf 'no newline' >&2"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::string("out\na\0b\r\n\tx", 11));
  EXPECT_EQ(r.err, "err\nno newline");
}

TEST_F(RunTest, BinaryOutputSurvivesAPipe) {
  // A tar stream out of the pod, read by the host's tar.
  Result r = run({"/bin/sh", "-c",
                  "'" + crt_bin_ + "' --dir='" + dir_ + "' run --net=none busybox -- tar c /etc/passwd /etc/group"
                  " | tar tf -"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "etc/passwd\netc/group\n");
}

TEST_F(RunTest, OutputIsKeptInThePodsJournalAsTheAppUnits) {
  // An app of a user of its own: journald takes the unit from root only.
  Result r = crt({"run", "busybox", "--user=1000", "--group=1000", "--", "/bin/sh", "-c",
                  "echo in the journal; echo from stderr >&2; sleep 0.2; printf 'last words'"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(pods("run").size(), 1U);
  std::string journal = pod_dir(pods("run")[0]) + "/overlay/stage1/upper/var/log/journal";
  // As journald records what the pod's systemd connects for
  // StandardOutput=journal: the unit, its identifier, the app's process.
  Result j = run({"journalctl", "--no-pager", "-o", "cat", "-D", journal, "-u", "busybox.service", "_TRANSPORT=stdout",
                  "SYSLOG_IDENTIFIER=busybox", "_COMM=sh", "_UID=1000", "_GID=1000"});
  EXPECT_EQ(j.status, 0) << j.err;
  EXPECT_THAT(j.out, HasSubstr("in the journal\n"));
  EXPECT_THAT(j.out, HasSubstr("from stderr\n"));
  // The app had ended when crt read its last words: they go as the unit's
  // flush command's.
  j = run({"journalctl", "--no-pager", "-o", "cat", "-D", journal, "-u", "busybox.service", "MESSAGE=last words",
           "_UID=1000", "_GID=1000"});
  EXPECT_EQ(j.out, "last words\n") << j.err;
}

TEST_F(RunTest, OutputAfterTheAppsProcessEndedIsKeptInTheJournalAsTheUnits) {
  // The app's process has gone when its child writes: what crt cannot
  // pass on as the app's process's, it copies into the journal once the
  // unit's stop command asks for it, as that command's (in the unit's
  // cgroup). Either way the lines are the unit's, whole.
  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/sh", "-c",
                  "(trap '' TERM; touch /trapped; sleep 0.5; echo 'and late'; printf 'and last') & "
                  "while [ ! -e /trapped ]; do sleep 0.01; done; echo early; printf 'started, '"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "early\nstarted, and late\nand last");
  std::string journal = pod_dir(pods("run").at(0)) + "/overlay/stage1/upper/var/log/journal";
  Result j = run({"journalctl", "--no-pager", "-o", "cat", "-D", journal, "-u", "busybox.service", "_TRANSPORT=stdout"});
  // The line begun by one writer and ended by another is one line.
  EXPECT_EQ(j.out, "early\nstarted, and late\nand last\n") << j.err;
}

TEST_F(RunTest, AFloodOfOutputReachesTheUserWhole) {
  // Far more lines than the pod's journald writes in the seconds it gets
  // when a pod stops: when an app ends by itself, the pod waits for them.
  constexpr size_t kLines = 3'000'000;
  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/sh", "-c",
                  "yes 2>/dev/null | head -n " + std::to_string(kLines) + "; echo end"},
                 {.env = {}, .timeout = std::chrono::seconds(600), .input = {}, .new_session = false});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.size(), 2 * kLines + 4);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), 'y'), static_cast<long>(kLines));
  EXPECT_TRUE(r.out.size() > 4 && r.out.compare(r.out.size() - 4, 4, "end\n") == 0) << "the last line was lost";
}

TEST_F(RunTest, ImageCommandRunsWithoutArguments) {
  // busybox's default command is /bin/sh, which reads stdin: /dev/null.
  Result r = crt({"run", "busybox"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(RunTest, MultiAppPodExitsWithFirstFailedApp) {
  // "bad" fails after "ok" has ended; otherwise the policy stops "ok" (143).
  // ok's last act leaves a mark; bad waits for it, then for ok's end.
  Result r = crt({"run", "--volume=s,kind=empty", "--mount=volume=s,target=/s", "busybox", "--name=ok", "--",
                  "/bin/touch", "/s/done", "---", "busybox", "--name=bad", "--", "/bin/sh", "-c",
                  "until [ -e /s/done ]; do sleep 0.05; done; sleep 0.5; exit 3"});
  EXPECT_EQ(r.status, 3) << r.err;
  std::string status_dir = pod_dir(pods("run").at(0)) + "/status/";
  EXPECT_THAT(read_file(status_dir + "ok"), HasSubstr("\"status\":0"));
  EXPECT_THAT(read_file(status_dir + "bad"), HasSubstr("\"status\":3"));
}

TEST_F(RunTest, EachAppOfAPodHasItsOwnExitStatus) {
  // Every app runs to its end (on-all-exit); "one" fails first (each
  // waits for the one before it to end), so it gives crt run's status.
  Result r = crt({"run", "--net=none", "--exit-policy=on-all-exit", "--volume=s,kind=empty", "--mount=volume=s,target=/s",
                  "busybox", "--name=zero", "--", "/bin/sh", "-c", "touch /s/zero",  //
                  "---", "busybox", "--name=one", "--", "/bin/sh", "-c",
                  "until [ -e /s/zero ]; do sleep 0.05; done; touch /s/one; exit 1",  //
                  "---", "busybox", "--name=answer", "--", "/bin/sh", "-c",
                  "until [ -e /s/one ]; do sleep 0.05; done; sleep 0.3; exit 42"});
  EXPECT_EQ(r.status, 1) << r.err;
  std::string status_dir = pod_dir(pods("run").at(0)) + "/status/";
  EXPECT_THAT(read_file(status_dir + "zero"), HasSubstr("\"status\":0"));
  EXPECT_THAT(read_file(status_dir + "one"), HasSubstr("\"status\":1"));
  EXPECT_THAT(read_file(status_dir + "answer"), HasSubstr("\"status\":42"));
  Result status = crt({"status", pods("run").at(0)});
  EXPECT_THAT(status.out, HasSubstr("app-zero=0\n"));
  EXPECT_THAT(status.out, HasSubstr("app-one=1\n"));
  EXPECT_THAT(status.out, HasSubstr("app-answer=42\n"));
}

TEST_F(RunTest, MultiAppPodWaitsForAllAppsAndPrefixesOutput) {
  Result r = crt({"run", "busybox", "--name=fast", "--", "/bin/echo", "one", "---", "busybox", "--name=slow", "--",
                  "/bin/sh", "-c", "sleep 1; echo two"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fast: one\n"));
  EXPECT_THAT(r.out, HasSubstr("slow: two\n"));
}

TEST_F(RunTest, FailingAppStopsTheOthers) {
  auto start = std::chrono::steady_clock::now();
  // fail waits until long runs: an app whose start is still queued when
  // the pod stops never runs, and has no end to record.
  Result r = crt({"run", "busybox", "--name=long", "--", "/bin/sleep", "60", "---", "busybox", "--name=fail", "--",
                  "/bin/sh", "-c", "until pidof sleep >/dev/null; do sleep 0.05; done; exit 7"});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  std::string long_status = read_file(pod_dir(pods("run").at(0)) + "/status/long");
  EXPECT_THAT(long_status, HasSubstr("\"exit_status\":\"TERM\""));
}

// An app that fills the disk the pod's state is on (its rootfs's upper
// layer is there) leaves no room for its record: it goes over the spare crt
// made for it, and crt run still exits with the app's status. The other
// app, stopped as the first failed, is recorded so too.
TEST_F(RunTest, AnAppThatFillsTheStateDiskStillGivesItsStatus) {
  std::string small = dir_ + "/small";
  std::filesystem::create_directories(small);
  // A tmpfs in a mount namespace of its own: no other process sees it. Root's
  // alone (mode=), as crt wants its state directory.
  std::string crt = crt_bin_ + " --dir=" + small + " ";
  std::string script = "mount -t tmpfs -o size=80m,mode=0700 tmpfs " + small + " || exit 100\n" + crt +
                       "run --net=none --uuid-file-save=" + dir_ +
                       "/uuid busybox --name=fill -- /bin/sh -c "
                       "'dd if=/dev/zero of=/fill bs=1M 2>/dev/null; exit 3' --- busybox --name=wait -- /bin/sleep 60"
                       " 2>" +
                       dir_ + "/run.err; echo $? >" + dir_ + "/run.rc\n" + "df --output=avail " + small +
                       " | tail -1 | tr -d ' ' >" + dir_ + "/avail\n" + crt + "status $(cat " + dir_ + "/uuid) >" +
                       dir_ + "/status\n" + crt + "gc --grace-period=0s >/dev/null\n";
  Result r = run({"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(dir_ + "/avail"), "0\n") << "the disk was full";
  EXPECT_EQ(read_file(dir_ + "/run.rc"), "3\n") << read_file(dir_ + "/run.err");
  std::string status = read_file(dir_ + "/status");
  EXPECT_THAT(status, HasSubstr("app-fill=3\n"));
  EXPECT_THAT(status, HasSubstr("app-wait=143\n"));
}

TEST_F(RunTest, AppsShareUtsIpcAndNetButNotMountNamespaces) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--name=a", "--", "/bin/sleep", "30", "---",
                      "busybox", "--name=b", "--", "/bin/sleep", "30"}));
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  pid_t a = wait_app_pid(uuid, "a");
  pid_t b = wait_app_pid(uuid, "b");
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  auto ns = [](pid_t pid, const char* kind) {
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + kind).string();
  };
  for (const char* kind : {"uts", "ipc", "net", "pid"}) EXPECT_EQ(ns(a, kind), ns(b, kind)) << kind;
  EXPECT_NE(ns(a, "mnt"), ns(b, "mnt"));
  p.signal(SIGTERM);
  Result r = p.wait();
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
}

TEST_F(RunTest, UuidFileNamesThePod) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(file), pods("run").at(0) + "\n");
}

// Each file crt makes on the pod's disk costs a new inode at every start;
// what need not outlive the pod is on a tmpfs instead.
TEST_F(RunTest, APodKeepsOnDiskOnlyWhatOutlivesIt) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/cat", "/etc/hostname"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = read_file(file).substr(0, 36);
  EXPECT_EQ(r.out, "crt-" + uuid + "\n");
  std::string pod = pod_dir(uuid), upper = pod + "/overlay/stage1/upper";
  for (const std::string& p : {pod + "/etc", pod + "/volumes", upper + "/crt", upper + "/opt", upper + "/etc/passwd",
                               upper + "/etc/group"})
    EXPECT_FALSE(std::filesystem::exists(p)) << p;
  // The units and the journal stay, for a look after the pod ended.
  EXPECT_TRUE(std::filesystem::exists(upper + "/etc/systemd/system/busybox.service"));
  // stage1's systemd needs a name for an app's user: such a pod gets
  // passwd and group of its own.
  r = crt({"run", "--uuid-file-save=" + file, "busybox", "--user=33", "--group=100", "--", "/bin/sh", "-c", "id -u"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "33\n");
  upper = pod_dir(read_file(file).substr(0, 36)) + "/overlay/stage1/upper";
  EXPECT_THAT(read_file(upper + "/etc/passwd"), HasSubstr("crt-uid-33:x:33:100:"));
  EXPECT_THAT(read_file(upper + "/etc/group"), HasSubstr("crt-gid-100:x:100:"));
}

TEST_F(RunTest, HostnameDefaultsToMachineNameAndCanBeSet) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/hostname"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "crt-" + read_file(file).substr(0, 36) + "\n");
  // Without a network of its own, the pod's name is on 127.0.1.1 (with one,
  // on its address: see NetworkTest), after the host's /etc/hosts, whose
  // names are the pod's too on the host's network.
  r = crt({"run", "--net=host", "--hostname=web-1", "busybox", "--", "/bin/sh", "-c",
           "hostname; cat /etc/hostname; grep web-1 /etc/hosts; cat /etc/hosts"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string host_hosts = read_file("/etc/hosts");
  if (!host_hosts.empty() && host_hosts.back() != '\n') host_hosts += '\n';
  EXPECT_EQ(r.out, "web-1\nweb-1\n127.0.1.1\tweb-1\n" + host_hosts + "127.0.1.1\tweb-1\n");
}

TEST_F(RunTest, NetNoneHasOnlyLoopback) {
  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/sh", "-c", "ls /sys/class/net"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "lo\n");
}

TEST_F(RunTest, NetHostSharesTheHostsNetwork) {
  // The namespace itself, not the interface list: other pods' interfaces
  // may come and go meanwhile.
  Result r = crt({"run", "--net=host", "busybox", "--", "/bin/readlink", "/proc/self/ns/net"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::filesystem::read_symlink("/proc/self/ns/net").string() + "\n");
}

}  // namespace
}  // namespace crt::test
