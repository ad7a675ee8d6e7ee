// Signals, interruptions and crashes: however a pod ends, nothing is left.

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

class LifecycleTest : public PodTest {
 protected:
  /// crt with `args`, its stdout read by /dev/null (as by a reader that
  /// keeps up).
  std::vector<std::string> crt_argv_to_null(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\" >/dev/null", "sh"};
    for (const auto& a : crt_argv(args)) argv.push_back(a);
    return argv;
  }

  bool nspawn_gone(milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      Result r = run({"pgrep", "-f", "systemd-nspawn.*" + dir_});
      if (r.status != 0) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }
};

TEST_F(LifecycleTest, SigtermStopsThePodGracefully) {
  for (int sig : {SIGTERM, SIGINT}) {
    std::string file = dir_ + "/uuid-" + std::to_string(sig);
    Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    std::string uuid = wait_uuid(file);
    ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
    std::this_thread::sleep_for(milliseconds(300));
    auto start = std::chrono::steady_clock::now();
    p.signal(sig);
    Result r = p.wait();
    // crt, its pod stopped as asked, ends by the signal that asked.
    EXPECT_EQ(r.signal, sig) << r.status << " " << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    // The app got SIGTERM from its pod's systemd, as in any orderly stop.
    EXPECT_THAT(read_file(pod_dir(uuid) + "/status/busybox"), HasSubstr("\"exit_status\":\"TERM\""));
  }
}

TEST_F(LifecycleTest, CrtEndsByTheStopsSignalHoweverItsAppTookTheStop) {
  struct Case {
    std::string trap;  // what the app does on SIGTERM
    bool crt_stop;     // stopped by crt stop, else by SIGINT to crt run
    int signal;        // crt run's end
  };
  for (const Case& c : {Case{"exit 0", false, SIGINT}, Case{"exit 143", true, SIGTERM}}) {
    std::string file = dir_ + "/uuid-" + c.trap.substr(5);
    Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                        "trap '" + c.trap + "' TERM; while :; do sleep 0.1; done"}),
              {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    std::string uuid = wait_uuid(file);
    ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
    std::this_thread::sleep_for(milliseconds(300));
    if (c.crt_stop)
      EXPECT_EQ(crt({"stop", uuid}).status, 0);
    else
      p.signal(SIGINT);
    Result r = p.wait();
    EXPECT_EQ(r.signal, c.signal) << c.trap << ": " << r.status << " " << r.err;
  }
}

TEST_F(LifecycleTest, AnAppThatDiesOfSigtermByItselfGivesItsStatus) {
  // Not a stop anyone asked for: crt exits 143, it is not killed.
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_EQ(r.signal, 0);
  // Also when a stop comes later for the other app: the first failure was
  // not the stop's.
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--exit-policy=on-all-exit", "--uuid-file-save=" + file, "busybox", "--name=early", "--",
                      "/bin/sh", "-c", "kill -TERM $$", "---", "busybox", "--name=late", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "late"), 0);
  for (int i = 0; i < 100 && !std::filesystem::exists(pod_dir(uuid) + "/status/early"); ++i)
    std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(crt({"stop", uuid}).status, 0);
  r = p.wait();
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_EQ(r.signal, 0) << "the early app's own SIGTERM was taken for the stop";
}

TEST_F(LifecycleTest, CtrlCStopsTheShellLoopThatRunsPods) {
  // A shell goes on after a command that exits 130 (it took ^C itself) and
  // stops after one that SIGINT killed.
  std::string file = dir_ + "/uuid";
  std::string loop = "for i in 1 2; do";
  for (const auto& a : crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}))
    loop += " '" + a + "'";
  loop += "; echo next; done; echo end";
  Process p({"bash", "-c", loop}, {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  ASSERT_GT(wait_app_pid(wait_uuid(file), "busybox"), 0);
  ::kill(-p.pid(), SIGINT);  // as the terminal does to its foreground job
  Result r = p.wait();
  EXPECT_EQ(r.signal, SIGINT) << r.status << " " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
}

TEST_F(LifecycleTest, StoppingAnAppThatFloodsItsOutputIsPrompt) {
  // What the app wrote but the pod's journald has not yet written is given
  // up when the user stops the pod (it took 12 s to stop).
  std::string file = dir_ + "/uuid";
  Process p(crt_argv_to_null({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "yes"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  if (wait_app_pid(uuid, "busybox") <= 0) {
    p.signal(SIGTERM);
    Result r = p.wait();
    FAIL() << "the app never ran: " << r.status << " " << r.err.substr(0, 2000) << "\nstdout: " << r.out.substr(0, 2000);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto start = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  Result r = p.wait();
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err.substr(0, 2000);
  // Up to 2 s of it is journald's stop timeout (stage1's system.conf); the
  // old behaviour took 12 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(9));
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(5)));
}

TEST_F(LifecycleTest, StoppingAPodWhoseJournalIsBehindIsPrompt) {
  // The app has ended and the pod waits for its journald to write the flood
  // of output left (see RunTest.AFloodOfOutputReachesTheUserWhole) when the
  // user stops it: the rest is given up. (crt pauses the app while journald
  // is 256 KiB behind, so the flood takes as long as journald needs for it:
  // about 12 s per million lines on a slow machine.)
  std::string file = dir_ + "/uuid";
  Process p(crt_argv_to_null({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                              "yes 2>/dev/null | head -n 1000000"}),
            {.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  std::string record = pod_dir(uuid) + "/status/busybox";
  for (int i = 0; i < 1800 && !std::filesystem::exists(record); ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(std::filesystem::exists(record)) << "the app did not end";
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto start = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  Result r = p.wait();
  EXPECT_FALSE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(9));
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(5)));
}

TEST_F(LifecycleTest, AReaderThatStallsDoesNotHoldUpTheStop) {
  // The test reads crt's stdout only at the end: it fills up while the app
  // floods it. crt still takes its signal and stops the pod at once, then
  // writes out what it has.
  for (bool interactive : {false, true}) {
    SCOPED_TRACE(interactive ? "--interactive without a terminal" : "output through the journal");
    std::string file = dir_ + "/uuid-" + std::to_string(interactive);
    std::vector<std::string> args = {"run", "--net=none", "--uuid-file-save=" + file};
    if (interactive) args.push_back("--interactive");
    args.insert(args.end(), {"busybox", "--", "yes"});
    Process p(crt_argv(args), {.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = true});
    std::string uuid = wait_uuid(file);
    ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    p.signal(SIGTERM);
    EXPECT_TRUE(nspawn_gone(std::chrono::seconds(9)));
    Result r = p.wait();
    EXPECT_EQ(r.status, 128 + SIGTERM) << r.err.substr(0, 2000);
    // More than a pipe holds, in whole lines.
    EXPECT_GT(r.out.size(), 64U << 10);
    EXPECT_EQ(r.out.find_first_not_of("y\n"), std::string::npos);
    EXPECT_EQ(r.out.find("\n\n"), std::string::npos);
    EXPECT_EQ(r.out.substr(0, 2), "y\n");
  }
}

TEST_F(LifecycleTest, OutputWaitsForAStalledReaderAndComesWhole) {
  // 20 MB of numbered lines while the reader stalls for 3 s: crt stops
  // taking the journal's lines when it holds 4 MiB, and takes them again as
  // the reader reads. Nothing is lost, nothing comes twice.
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                      "pad=$(head -c 1000 /dev/zero | tr '\\0' x); i=1; "
                      "while [ $i -le 20000 ]; do echo \"$i $pad\"; i=$((i+1)); done; sleep 1"}),
            {.env = {}, .timeout = std::chrono::seconds(180), .input = {}, .new_session = true});
  ASSERT_GT(wait_app_pid(wait_uuid(file), "busybox"), 0);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  Result r = p.wait();
  ASSERT_EQ(r.status, 0) << r.err.substr(0, 2000);
  std::string pad(1000, 'x');
  size_t pos = 0;
  for (int i = 1; i <= 20000; ++i) {
    std::string line = std::to_string(i) + " " + pad + "\n";
    ASSERT_EQ(r.out.compare(pos, line.size(), line), 0) << "line " << i << " of " << r.out.size() << " bytes";
    pos += line.size();
  }
  EXPECT_EQ(pos, r.out.size());
}

TEST_F(LifecycleTest, InterruptAtAnyMomentOfTheStartLeavesNothingBehind) {
  ASSERT_NO_FATAL_FAILURE(import_stage1_and_busybox());  // the delays fall into the start, not an import
  for (int delay : {0, 5, 20, 50, 60, 70, 80, 90, 100, 120, 160, 200, 250, 300, 400}) {
    Process p(crt_argv({"run", "busybox", "--", "/bin/sleep", "60"}), {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    std::this_thread::sleep_for(milliseconds(delay));
    auto start = std::chrono::steady_clock::now();
    p.signal(SIGINT);
    Result r = p.wait();
    EXPECT_FALSE(r.timed_out);
    // Before the pod starts: crt's "interrupted" (130); after: the app's
    // status, stopped (143). Also when the signal comes before the pod's
    // systemd listens for nspawn's request to halt: crt waits until it does.
    EXPECT_TRUE(r.status == 130 || r.status == 143) << delay << "ms: " << r.status << " " << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << delay << "ms";
    EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10))) << delay;
    EXPECT_TRUE(pods("prepare").empty()) << delay;
    for (const auto& uuid : pods("run")) {
      // A pod that started is complete: manifest and a record per app.
      EXPECT_TRUE(std::filesystem::exists(pod_dir(uuid) + "/pod.json"));
    }
  }
}

TEST_F(LifecycleTest, SecondInterruptEarlyInTheBootStopsThePodAtOnce) {
  // The first asks for an orderly stop, which waits until the pod's systemd
  // listens; the second does not wait.
  ASSERT_NO_FATAL_FAILURE(import_stage1_and_busybox());  // the delays fall into the start, not an import
  for (int delay : {40, 70, 100}) {
    Process p(crt_argv({"run", "busybox", "--", "/bin/sleep", "60"}), {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    std::this_thread::sleep_for(milliseconds(delay));
    auto start = std::chrono::steady_clock::now();
    p.signal(SIGINT);
    std::this_thread::sleep_for(milliseconds(5));
    p.signal(SIGINT);
    // Two signals that come before crt reads the first are one; a third
    // makes sure there is a second. (It exits, unreaped, before or after.)
    std::this_thread::sleep_for(milliseconds(200));
    p.signal(SIGINT);
    Result r = p.wait();
    EXPECT_FALSE(r.timed_out) << delay;
    EXPECT_NE(r.status, 0) << delay << "ms: " << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8)) << delay << "ms";
    EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10))) << delay;
  }
}

TEST_F(LifecycleTest, APodThatDoesNotStopIsKilledAfterTheStopTimeout) {
  // The pod's systemd never carries out the orderly stop (here it is frozen;
  // a stop job that hangs or a store removed under the pod do the same):
  // after --stop-timeout crt kills the pod and cleans up, without waiting
  // for a second signal.
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--stop-timeout=2s", "--uuid-file-save=" + file, "busybox", "--",
                      "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  pid_t app = wait_app_pid(uuid, "busybox");
  ASSERT_GT(app, 0);
  pid_t init = std::stoi(proc_status(app, "PPid"));
  ASSERT_GT(init, 1);
  ASSERT_EQ(::kill(init, SIGSTOP), 0);
  auto start = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  Result r = p.wait();
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.timed_out) << "crt waited for the pod for ever";
  EXPECT_GE(took, std::chrono::seconds(2)) << "the orderly stop was not given its time";
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_THAT(r.err, HasSubstr("the pod did not stop within 2s (--stop-timeout); killing it"));
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(5)));
}

TEST_F(LifecycleTest, AReaderThatGoesAwayStopsThePodAndCrtCleansUp) {
  // crt run … | head: once head has its lines and is gone, crt is not killed
  // by SIGPIPE with the pod up; it stops the pod in order and cleans up (the
  // fixture checks the pod's cgroup is gone).
  std::string file = dir_ + "/uuid";
  std::string cmd;
  for (const auto& a : crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                                 "while :; do echo line; done"}))
    cmd += "'" + a + "' ";
  cmd += "| head -3; echo \"crt=${PIPESTATUS[0]}\"";
  auto start = std::chrono::steady_clock::now();
  Result r = run({"bash", "-c", cmd}, {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  EXPECT_FALSE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  // crt ends as any writer to a pipe nobody reads: by SIGPIPE (141), once
  // its pod's systemd has stopped the app (SIGTERM).
  EXPECT_EQ(r.out, "line\nline\nline\ncrt=141\n") << r.err;
  std::string uuid = wait_uuid(file);
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
  EXPECT_THAT(read_file(pod_dir(uuid) + "/status/busybox"), HasSubstr("\"exit_status\":\"TERM\""));
}

// In a unit whose output goes to the journal ($JOURNAL_STREAM names crt's
// stdout), a stream the journal dropped does not stop the service's pod:
// the apps' output still goes to the pod's journal.
TEST_F(LifecycleTest, AJournalStreamThatGoesAwayDoesNotStopThePod) {
  std::string file = dir_ + "/uuid";
  std::string cmd =
      "d=$(mktemp -d -p '" + dir_ + "'); mkfifo \"$d/p\"; export JOURNAL_STREAM=$(stat -c %d:%i \"$d/p\"); ";
  for (const auto& a : crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                                 "trap \"exit 7\" TERM; echo ready; while :; do echo tick; sleep 0.1; done"}))
    cmd += "'" + a + "' ";
  cmd += ">\"$d/p\" & c=$!; exec 3<\"$d/p\"; read -r line <&3; exec 3<&-; sleep 1; '" + crt_bin_ + "' --dir='" + dir_ +
         "' status \"$(cat '" + file + "')\" | head -1; '" + crt_bin_ + "' --dir='" + dir_ + "' stop --uuid-file='" +
         file + "' >/dev/null; wait $c; echo crt=$?";
  Result r =
      run({"bash", "-c", cmd}, {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "state=running\ncrt=7\n") << r.err;
  std::string uuid = wait_uuid(file);
  EXPECT_THAT(crt({"logs", uuid}).out, HasSubstr("tick\ntick\ntick\n")) << "the pod's journal lost the output";
}

// ^C on `crt run … | cat` ends cat with crt: the reader goes away while the
// pod stops. That is no second stop request (which would kill the pod):
// the app ends in order, as it does after crt stop.
TEST_F(LifecycleTest, AReaderThatGoesAwayDuringTheStopDoesNotKillThePod) {
  for (const std::string& stop : std::vector<std::string>{
           "kill -TERM $c;", "'" + crt_bin_ + "' --dir='" + dir_ + "' stop --uuid-file='" + dir_ + "/uuid' &"}) {
    std::string cmd = "d=$(mktemp -d -p '" + dir_ + "'); mkfifo \"$d/p\"; ";
    for (const auto& a : crt_argv({"run", "--uuid-file-save=" + dir_ + "/uuid", "busybox", "--", "/bin/sh", "-c",
                                   "trap \"sleep 0.5; echo stopping; sleep 0.5; echo done; exit 7\" TERM; echo ready; "
                                   "while :; do sleep 0.1; done"}))
      cmd += "'" + a + "' ";
    // The app writes only once its stop began, and then its reader has gone.
    cmd += ">\"$d/p\" & c=$!; exec 3<\"$d/p\"; read -r line <&3; " + stop + " exec 3<&-; wait $c; echo crt=$?";
    Result r =
        run({"bash", "-c", cmd}, {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    EXPECT_FALSE(r.timed_out);
    EXPECT_THAT(r.out, HasSubstr("crt=7\n")) << stop << ": " << r.err;
    std::string uuid = wait_uuid(dir_ + "/uuid");
    EXPECT_THAT(read_file(pod_dir(uuid) + "/status/busybox"), HasSubstr("\"exit_status\":\"7\"")) << stop;
  }
}

TEST_F(LifecycleTest, DebugOutputWhoseReaderGoesAwayLeavesNothingBehind) {
  // crt --debug run … 2>&1 >/dev/null | grep -q …: once nspawn runs, crt's
  // steps go to a pipe nobody reads any more. crt must not die of SIGPIPE
  // with the pod half set up: the pod ends (its console has no reader
  // either) and crt removes its network namespace and cgroup (the fixture
  // checks the cgroup).
  std::string file = dir_ + "/uuid";
  std::string cmd;
  for (const auto& a : crt_argv({"--debug", "run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "1"}))
    cmd += "'" + a + "' ";
  cmd += "2>&1 >/dev/null | grep -q 'started systemd-nspawn'";
  Result r =
      run({"bash", "-c", cmd}, {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  EXPECT_FALSE(r.timed_out);
  std::string uuid = wait_uuid(file);
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
  EXPECT_FALSE(std::filesystem::exists("/run/netns/crt-" + uuid)) << "the pod's network namespace is left";
}

TEST_F(LifecycleTest, KillingCrtStopsThePodAndFreesItsMounts) {
  check_cgroups_ = false;  // removing a dead pod's cgroup is crt gc's job
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
  p.signal(SIGKILL);
  p.wait();
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(20)));
  // The pod directory says "exited": in run/ and no longer locked.
  ASSERT_TRUE(std::filesystem::exists(pod_dir(uuid)));
  // (crt's watcher that stopped the pod holds the lock until it sees
  // nspawn gone, a moment after this test does on a busy machine.)
  int fd = ::open(pod_dir(uuid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  bool unlocked = false;
  for (int i = 0; i < 500 && !unlocked; ++i) {
    unlocked = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (!unlocked) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(unlocked);
  ::close(fd);
  // The pod's orderly stop ended the app, and its unit recorded how: its
  // stdio sockets still took the recorder's connections with crt gone.
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-busybox=143\n"));
  EXPECT_THAT(crt({"logs", uuid}).out, Not(HasSubstr("Failed to set up")));
}

// crt killed while the pod's orderly stop is under way: the stop goes on
// (a second SIGTERM would have nspawn kill the pod at once, the app's end
// unrecorded). The app's last words, written with crt gone, do not kill it
// (SIGPIPE): they go to the pod's journal.
TEST_F(LifecycleTest, KillingCrtDuringTheStopLetsTheStopFinish) {
  check_cgroups_ = false;  // removing a dead pod's cgroup is crt gc's job
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                      "echo up; trap 'sleep 2; echo stopping; echo stopped >&2; exit 9' TERM; "
                      "while :; do sleep 0.1; done"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  p.signal(SIGINT);
  std::string stop = pod_dir(uuid) + "/stop-requested";
  bool sent = false;
  // Noted just before it is sent: nspawn's own word says it has it.
  for (int i = 0; i < 200 && !sent; ++i) {
    sent = read_file(stop).rfind('s', 0) == 0 &&
           read_file(pod_dir(uuid) + "/nspawn.log").find("Trying to halt container") != std::string::npos;
    if (!sent) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(sent) << "crt forwarded no stop";
  p.signal(SIGKILL);
  p.wait();
  ASSERT_EQ(crt({"status", "--wait=30s", uuid}).status, 0);
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-busybox=9\n"));
  std::string logs = crt({"logs", uuid}).out;
  EXPECT_THAT(logs, HasSubstr("up\n"));
  EXPECT_THAT(logs, HasSubstr("stopping\n"));
  EXPECT_THAT(logs, HasSubstr("stopped\n"));
}

// What kills crt run by its name or command line (killall -9 crt, pkill -9
// -f 'crt run') leaves the pod's watch alone, which stops the pod.
TEST_F(LifecycleTest, KillingCrtByNameStopsThePodToo) {
  check_cgroups_ = false;  // removing a dead pod's cgroup is crt gc's job
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
  std::string nspawn = read_file(pod_dir(uuid) + "/pid");
  nspawn.erase(nspawn.find_last_not_of('\n') + 1);
  Result watch = run({"pgrep", "-x", "-f", "pod-watch " + nspawn});
  EXPECT_EQ(watch.status, 0) << "the watch has a name of its own";
  Result k = run({"pkill", "-KILL", "-f", "dir=" + dir_ + " run"});
  EXPECT_EQ(k.status, 0) << k.err;
  p.wait();
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(20)));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-busybox=143\n"));
}

// Early in its boot the pod's systemd cannot take an orderly stop yet (it
// would be lost, and the pod would wait for crt for ever): a crt killed
// then takes the pod with it at once.
TEST_F(LifecycleTest, KillingCrtWhileThePodBootsStopsIt) {
  check_cgroups_ = false;  // removing a dead pod's cgroup is crt gc's job
  for (int delay : {0, 10, 25, 40}) {
    Process p(crt_argv({"run", "busybox", "--", "/bin/sleep", "60"}),
              {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (run({"pgrep", "-f", "systemd-nspawn.*" + dir_}).status != 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(milliseconds(1));
    std::this_thread::sleep_for(milliseconds(delay));
    p.signal(SIGKILL);
    p.wait();
    // It boots as far as prepare-app, which finds crt gone and powers the
    // pod off: well under "for ever", but a boot and a stop under load.
    EXPECT_TRUE(nspawn_gone(std::chrono::seconds(20))) << delay;
  }
  // Each pod directory says "exited" (its watch lets go of it a moment
  // after nspawn ends), and crt gc takes it with what the pod left.
  std::vector<std::string> uuids = pods("run");
  EXPECT_EQ(uuids.size(), 4u);
  for (const auto& uuid : uuids) {
    std::string status;
    for (int i = 0; i < 200 && status.find("state=exited\n") == std::string::npos; ++i) {
      if (i > 0) std::this_thread::sleep_for(milliseconds(50));
      status = crt({"status", uuid}).out;
    }
    EXPECT_THAT(status, HasSubstr("state=exited\n")) << uuid;
  }
  Result gc = crt({"gc", "--grace-period=0s"});
  EXPECT_EQ(gc.status, 0) << gc.err;
  EXPECT_THAT(pods("run"), ::testing::IsEmpty());
  EXPECT_THAT(pods("exited-garbage"), ::testing::IsEmpty());
}

// A pod whose directory is deleted by hand cannot record its apps' ends:
// crt run stops it, says why, and cleans up what is its to clean.
TEST_F(LifecycleTest, APodWhoseDirectoryIsDeletedIsStopped) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
  auto start = std::chrono::steady_clock::now();
  // As rm -rf, again while the pod writes in it meanwhile (its journal).
  std::error_code ec;
  for (int i = 0; i < 50 && std::filesystem::exists(pod_dir(uuid)); ++i) std::filesystem::remove_all(pod_dir(uuid), ec);
  ASSERT_FALSE(std::filesystem::exists(pod_dir(uuid))) << ec.message();
  Result r = p.wait();
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: the pod's directory '" + pod_dir(uuid) + "' was deleted while the pod ran\n"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(5)));
}

TEST_F(LifecycleTest, RunningPodDirectoryIsLocked) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
  int fd = ::open(pod_dir(uuid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ::close(fd);
  p.signal(SIGTERM);
  p.wait();
}

TEST_F(LifecycleTest, DebugShowsCrtsStepsAndThePodsBoot) {
  Result r = crt({"--debug", "run", "--net=none", "busybox", "--", "/bin/echo", "quiet-app"});
  EXPECT_EQ(r.status, 0) << r.err;
  // stdout has what went to the app's stream: its output (told by the
  // stream's identifier, even when journald sees it coming from init.scope)
  // and, with --debug, what systemd logged while it set the app up. The
  // pod's console (its systemd's own debug messages) goes to stderr with
  // crt's.
  EXPECT_NE(r.out.find("quiet-app\n"), std::string::npos) << "the app's output was lost";
  EXPECT_EQ(r.out.find("Activating default unit"), std::string::npos) << "the pod's console is on stdout";
  EXPECT_NE(r.err.find("Activating default unit"), std::string::npos) << "no debug output of the pod's systemd";
  EXPECT_THAT(r.err, ::testing::ContainsRegex("crt: \\[ *[0-9.]+ ms\\] prepared pod"));
  EXPECT_THAT(r.err, HasSubstr("started systemd-nspawn"));
  EXPECT_THAT(r.err, HasSubstr("Spawning container")) << "nspawn speaks too";
  // stderr is no terminal here: the pod's systemd does not colour its lines.
  EXPECT_EQ(r.err.find("\x1b["), std::string::npos) << r.err;
  Result plain = crt({"run", "--net=none", "busybox", "--", "/bin/echo", "quiet-app"});
  EXPECT_EQ(plain.err, "") << "and only with --debug";
}

TEST_F(LifecycleTest, InteractiveWithoutATerminalPassesStdioByteForByte) {
  // What no journal keeps as it is: NUL, CR, invalid UTF-8, a long line and
  // no newline at the end.
  std::string input;
  for (int i = 0; i < 160; ++i)
    for (int c = 0; c < 256; ++c) input.push_back(static_cast<char>(c));
  input += "caf\xc3\xa9 \xff\xfe\r\n" + std::string(9000, 'x');
  Result r = crt({"run", "--net=none", "--interactive", "busybox", "--", "/bin/sh", "-c",
                  "cat; echo to-stderr >&2; [ -t 0 ] || [ -t 1 ] || echo no-terminal >&2; exit 42"},
                 {.env = {}, .timeout = std::chrono::seconds(60), .input = input, .new_session = true});
  EXPECT_EQ(r.status, 42) << r.err;
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input) << "the app's stdout differs from its stdin";
  EXPECT_EQ(r.err, "to-stderr\nno-terminal\n");
  // A copy went to the pod's journal as the app's (in lines: the journal
  // keeps text), its last line too.
  ASSERT_EQ(pods("run").size(), 1U);
  Result logs = crt({"logs", pods("run")[0]});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("caf\xc3\xa9"));
  EXPECT_THAT(logs.out, HasSubstr(std::string(9000, 'x')));
  EXPECT_THAT(logs.out, HasSubstr("to-stderr\nno-terminal\n"));
  EXPECT_EQ(logs.err, "");
  Result journal = run({"journalctl", "--no-pager", "-o", "cat", "-D",
                        pod_dir(pods("run")[0]) + "/overlay/stage1/upper/var/log/journal", "-u", "busybox.service",
                        "_TRANSPORT=stdout"});
  EXPECT_THAT(journal.out, HasSubstr("no-terminal")) << journal.err;
}

TEST_F(LifecycleTest, InteractiveReadsAFileOrNothingToItsEnd) {
  std::string file = dir_ + "/input";
  std::string data(3 * 1024 * 1024 + 7, 'a');
  {
    std::ofstream f(file, std::ios::binary);
    f << data;
  }
  std::string crt_cmd;
  for (const auto& a : crt_argv({"run", "--net=none", "--interactive", "busybox", "--", "wc", "-c"})) crt_cmd += "'" + a + "' ";
  Result r = run({"/bin/sh", "-c", crt_cmd + "< '" + file + "'"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(data.size()) + "\n");
  r = run({"/bin/sh", "-c", crt_cmd + "< /dev/null"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
}

TEST_F(LifecycleTest, InteractiveAppGetsTheTerminal) {
  TerminalProcess t(crt_argv({"run", "--interactive", "busybox", "--", "/bin/sh"}), 30, 100);
  // The shell's prompt says it reads the terminal.
  EXPECT_TRUE(t.read_until("# ", std::chrono::seconds(20))) << t.shown();
  t.type("[ -t 0 ] && [ -t 1 ] && echo terminal; echo term=$TERM.; echo size=$(stty size).; echo answer=$((6*7))\n");
  EXPECT_TRUE(t.read_until("answer=42", std::chrono::seconds(20))) << t.shown();
  EXPECT_THAT(t.shown(), HasSubstr("\nterminal\r\n"));
  // The app's terminal has the size of the user's, and follows it (SIGWINCH,
  // which the kernel sends crt, the terminal's foreground process).
  EXPECT_THAT(t.shown(), HasSubstr("\nsize=30 100.\r\n"));
  winsize size{};
  size.ws_row = 40;
  size.ws_col = 120;
  ASSERT_EQ(::ioctl(t.master(), TIOCSWINSZ, &size), 0);
  bool resized = false;
  for (int i = 0; i < 50 && !resized; ++i) {
    t.type("echo now=$(stty size).\n");
    resized = t.read_until("now=40 120.", milliseconds(200));
  }
  EXPECT_TRUE(resized) << t.shown();
  t.type("seq 1 3000; echo last-words; exit 7\n");
  // The app's TERM is the user's (or xterm when the user has none).
  const char* term = std::getenv("TERM");
  EXPECT_THAT(t.shown(), HasSubstr("term=" + std::string(term != nullptr && *term != '\0' ? term : "xterm") + ".\r\n"));
  // Nothing but the app on the terminal: no messages of the pod's own.
  EXPECT_THAT(t.shown(), ::testing::Not(HasSubstr("Failed")));
  // Drain the terminal until crt closes it, then reap it.
  t.read_until("\x01", std::chrono::seconds(20));
  EXPECT_EQ(t.wait(), 7) << t.shown();
  // app-exited's mark after the app's last output is not shown.
  EXPECT_THAT(t.shown(), HasSubstr("\n3000\r\nlast-words\r\n"));
  EXPECT_THAT(t.shown(), ::testing::Not(HasSubstr("CRT-END")));
  // What went to the terminal is in the pod's journal too, as the app's,
  // in lines that end as the journal's do.
  ASSERT_EQ(pods("run").size(), 1U);
  Result logs = crt({"logs", pods("run")[0]});
  EXPECT_EQ(logs.status, 0);
  EXPECT_THAT(logs.out, HasSubstr("\nterminal\n"));
  EXPECT_THAT(logs.out, HasSubstr("\nsize=30 100.\nanswer=42\n"));
  EXPECT_THAT(logs.out, HasSubstr("\nnow=40 120.\n"));
  EXPECT_THAT(logs.out, ::testing::Not(HasSubstr("\r\n")));
  // All of it, up to the app's last line, and not the mark after it.
  EXPECT_THAT(logs.out, HasSubstr("\n2999\n3000\nlast-words\n"));
  EXPECT_THAT(logs.out, ::testing::Not(HasSubstr("CRT-END")));
  EXPECT_EQ(logs.err, "");
  // The app's end was recorded as any app's.
  Result st = crt({"status", pods("run")[0]});
  EXPECT_THAT(st.out, HasSubstr("app-busybox=7"));
}

// With --debug the pod's console is busy from its first moment, before the
// app and its journald: the app's own output still reaches the journal.
TEST_F(LifecycleTest, InteractiveWithDebugStillCopiesTheAppsOutputToTheJournal) {
  TerminalProcess t(crt_argv({"--debug", "run", "--net=none", "--interactive", "busybox", "--", "/bin/sh"}));
  ASSERT_TRUE(t.read_until("/ # ", std::chrono::seconds(20))) << t.shown();
  t.type("echo debug-$((2+3)); exit 4\n");
  t.read_until("\x01", std::chrono::seconds(20));
  EXPECT_EQ(t.wait(), 4) << t.shown();
  // crt's own lines (its --debug trace) while the app has the terminal
  // raw end as the app's do: none is a step down from the one before.
  EXPECT_THAT(t.shown(), HasSubstr("crt: ["));
  EXPECT_THAT(t.shown(), ::testing::Not(::testing::ContainsRegex("[^\r]\n"))) << t.shown();
  ASSERT_EQ(pods("run").size(), 1U);
  Result logs = crt({"logs", pods("run")[0]});
  EXPECT_THAT(logs.out, HasSubstr("\ndebug-5\n"));
  EXPECT_THAT(logs.err, ::testing::Not(HasSubstr("warning")));
}

TEST_F(LifecycleTest, AHangupOfTheTerminalEndsAnInteractiveShellAtOnce) {
  TerminalProcess t(crt_argv({"run", "--net=none", "--interactive", "busybox", "--", "/bin/sh"}));
  ASSERT_TRUE(t.read_until("# ", std::chrono::seconds(20))) << "the shell's prompt: " << t.shown();
  // The user's terminal goes (a closed ssh session): crt gets SIGHUP and
  // stops the pod; the shell, which ignores the stop's SIGTERM, gets the
  // hangup too, and does not hold the pod for its stop timeout.
  auto start = std::chrono::steady_clock::now();
  t.hang_up();
  EXPECT_EQ(t.wait(), 128 + SIGHUP);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(LifecycleTest, KillingCrtOnATerminalLeavesTheTerminalAsItWas) {
  check_cgroups_ = false;  // removing a dead pod's cgroup is crt gc's job
  TerminalProcess t(crt_argv({"run", "--net=none", "--interactive", "busybox", "--", "/bin/sh"}));
  termios before{};
  ASSERT_EQ(::tcgetattr(t.master(), &before), 0);
  ASSERT_NE(before.c_lflag & ECHO, 0U);
  ASSERT_TRUE(t.read_until("# ", std::chrono::seconds(20))) << "the shell's prompt: " << t.shown();
  termios during{};
  ASSERT_EQ(::tcgetattr(t.master(), &during), 0);
  EXPECT_EQ(during.c_lflag & (ECHO | ICANON | ISIG), 0U) << "raw while the app has it";
  ::kill(t.pid(), SIGKILL);
  EXPECT_EQ(t.wait(), 128 + SIGKILL);
  // crt's guardian puts the terminal back as soon as crt has gone.
  termios after{};
  auto restored = [&] {
    return ::tcgetattr(t.master(), &after) == 0 && after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag &&
           after.c_oflag == before.c_oflag;
  };
  for (int i = 0; i < 200 && !restored(); ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(restored());
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(20)));
}

// machinectl reboot sends SIGINT to the pod's systemd: the pod's apps are
// stopped in order and started again in the same pod (its systemd stays,
// the files they wrote are kept). How they ended before the reboot neither
// ends the pod nor counts: crt run exits with the last run's status.
TEST_F(LifecycleTest, SigintToThePodsSystemdRebootsItsApps) {
  std::string file = dir_ + "/uuid";
  const char* counter =
      "n=$(($(cat /count 2>/dev/null || echo 0) + 1)); echo $n > /count; echo counter $n; "
      "[ $n = 1 ] && exec sleep 60; exit 0";
  // Ends at once the first time; the second, later than the other app, and
  // failing: the pod ends then, with its status.
  const char* later =
      "n=$(($(cat /count 2>/dev/null || echo 0) + 1)); echo $n > /count; "
      "[ $n = 2 ] && sleep 2; echo later $n; exit $((n == 2 ? 4 : 0))";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--name=counter", "--", "/bin/sh",
                      "-c", counter, "---", "busybox", "--name=later", "--", "/bin/sh", "-c", later}),
            {.env = {}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  pid_t first = wait_app_pid(uuid, "counter");
  ASSERT_GT(first, 0);
  pid_t init = std::stoi(proc_status(first, "PPid"));
  ASSERT_GT(init, 1);
  std::string record = pod_dir(uuid) + "/status/later";
  for (int i = 0; i < 200 && !std::filesystem::exists(record); ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(std::filesystem::exists(record)) << "the first run of 'later' did not end";
  ASSERT_EQ(::kill(init, SIGINT), 0);
  std::string count = app_upper(uuid, "counter") + "/count";
  for (int i = 0; i < 300 && read_file(count) != "2\n"; ++i) std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(read_file(count), "2\n") << "the app did not start again";
  // The same pod: its systemd did not restart.
  EXPECT_EQ(::kill(init, 0), 0);
  Result r = p.wait();
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_THAT(r.out, HasSubstr("counter: counter 1\n"));
  EXPECT_THAT(r.out, HasSubstr("counter: counter 2\n"));
  EXPECT_THAT(r.out, HasSubstr("later: later 1\n"));
  EXPECT_THAT(r.out, HasSubstr("later: later 2\n")) << "the first run's record ended the pod early";
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
  r = crt({"status", uuid});
  EXPECT_THAT(r.out, HasSubstr("app-counter=0\n")) << r.err;
  EXPECT_THAT(r.out, HasSubstr("app-later=4\n")) << r.err;
}

// An app that stops the pod's journald (SIGSTOP: a root app has CAP_KILL)
// keeps the pod from ending no longer than a few seconds: what waits for
// journald (the app's last output, the journal's sync before the exit
// policy) gives up once it is stopped, and the pod ends with the app's
// status. It waited 2 minutes, and crt status said "running".
TEST_F(LifecycleTest, AnAppThatStopsThePodsJournaldStillEndsThePod) {
  auto start = std::chrono::steady_clock::now();
  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/sh", "-c",
                  "kill -STOP $(pidof systemd-journald) || exit 99; echo stopped; exit 4"},
                 {.env = {}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = true});
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_EQ(r.out, "stopped\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
}

// A stop of the pod while it reboots ends it: the apps do not start again,
// and how they ended counts as at any stop.
TEST_F(LifecycleTest, AStopDuringARebootEndsThePodWithTheAppsEnds) {
  std::string file = dir_ + "/uuid";
  const char* app =
      "n=$(($(cat /count 2>/dev/null || echo 0) + 1)); echo $n > /count; echo run $n; "
      "trap 'sleep 2; echo slow-stop; exit 7' TERM; while :; do sleep 0.1; done";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c", app}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  pid_t first = wait_app_pid(uuid, "busybox");
  ASSERT_GT(first, 0);
  pid_t init = std::stoi(proc_status(first, "PPid"));
  ASSERT_GT(init, 1);
  ASSERT_EQ(::kill(init, SIGINT), 0);
  std::this_thread::sleep_for(milliseconds(500));  // the app is stopping
  Result stop = crt({"stop", uuid});
  EXPECT_EQ(stop.status, 0) << stop.err;
  Result r = p.wait();
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_THAT(r.out, HasSubstr("run 1\n"));
  EXPECT_THAT(r.out, HasSubstr("slow-stop\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("run 2")));
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
  r = crt({"status", uuid});
  EXPECT_THAT(r.out, HasSubstr("app-busybox=7\n")) << r.err;
}

/// The second run of an interactive app that printed "settings-N=….", N
/// its run, and has printed "settings-2=": it found the terminal set as the
/// first did, and Enter gives it a line ("got-hello."), which the terminal
/// echoes. True when that came: crt run is then about to end (else it is
/// told to).
bool second_run_found_the_first_runs_terminal(TerminalProcess& t) {
  t.read_until(".\r\n", std::chrono::seconds(5));
  auto settings = [&](const std::string& run) {
    size_t at = t.shown().find("settings-" + run + "=");
    return at == std::string::npos ? "" : t.shown().substr(at + 11, t.shown().find('.', at) - at - 11);
  };
  EXPECT_NE(settings("1"), "");
  EXPECT_EQ(settings("2"), settings("1"));
  t.type("hello\r");
  bool got = t.read_until("got-hello.", std::chrono::seconds(10));
  EXPECT_TRUE(got) << t.shown();
  if (!got) ::kill(t.pid(), SIGTERM);
  EXPECT_THAT(t.shown(), HasSubstr("hello\r\n"));
  t.read_until("\x01", std::chrono::seconds(20));
  return got;
}

// machinectl reboot of an interactive pod: the app starts again on the
// same terminal, set as the first run found it, not as the run the reboot
// stopped left it (raw, without echo), and crt run exits with the status
// of the last run.
TEST_F(LifecycleTest, ARebootOfAnInteractivePodStartsTheAppAgainOnItsTerminal) {
  std::string file = dir_ + "/uuid";
  const char* app =
      "n=$(($(cat /count 2>/dev/null || echo 0) + 1)); echo $n > /count; echo settings-$n=$(stty -g).; "
      "if [ $n = 1 ]; then stty raw -echo; exec sleep 600; fi; read line; echo got-$line.; exit 3";
  TerminalProcess t(crt_argv(
      {"run", "--net=none", "--interactive", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c", app}));
  ASSERT_TRUE(t.read_until("settings-1=", std::chrono::seconds(60))) << t.shown();
  std::string uuid = wait_uuid(file);
  pid_t first = wait_app_pid(uuid, "busybox");
  ASSERT_GT(first, 0);
  // Raw once the shell has made way for sleep.
  for (int i = 0; i < 200 && read_file("/proc/" + std::to_string(first) + "/comm") != "sleep\n"; ++i)
    std::this_thread::sleep_for(milliseconds(50));
  pid_t init = std::stoi(proc_status(first, "PPid"));
  ASSERT_GT(init, 1);
  ASSERT_EQ(::kill(init, SIGINT), 0);
  ASSERT_TRUE(t.read_until("settings-2=", std::chrono::seconds(30))) << t.shown();
  bool got = second_run_found_the_first_runs_terminal(t);
  if (got) {
    EXPECT_EQ(t.wait(), 3) << t.shown();
    EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-busybox=3"));
  }
}

// An interactive app that systemd restarts (--restart) starts again on its
// terminal set as its first run found it, as after a reboot, not as the run
// that ended left it (raw, without echo).
TEST_F(LifecycleTest, ARestartedInteractiveAppStartsAgainOnItsTerminalAsItWas) {
  const char* app =
      "n=$(($(cat /count 2>/dev/null || echo 0) + 1)); echo $n > /count; echo settings-$n=$(stty -g).; "
      "if [ $n = 1 ]; then stty raw -echo; exit 1; fi; read line; echo got-$line.; exit 0";
  TerminalProcess t(
      crt_argv({"run", "--net=none", "--interactive", "busybox", "--restart=on-failure", "--", "/bin/sh", "-c", app}));
  ASSERT_TRUE(t.read_until("settings-2=", std::chrono::seconds(60))) << t.shown();
  bool got = second_run_found_the_first_runs_terminal(t);
  if (got) {
    EXPECT_EQ(t.wait(), 0) << t.shown();
  }
}

// A recorder of the apps' run before a reboot that runs late (here: held
// while it waits for the pod's journald to end the pod, its app having
// ended) neither records nor applies the exit policy once the reboot has
// started the apps again: that run's end is not the new run's.
TEST_F(LifecycleTest, ARecorderOfTheRunBeforeARebootLeavesTheNewRunAlone) {
  std::string file = dir_ + "/uuid";
  // Restarted on failure only: its recorder is app-success@ (a unit of its
  // own), which the reboot waits for only so long.
  const char* app =
      "n=$(($(cat /count 2>/dev/null || echo 0) + 1)); echo $n > /count; echo run $n; "
      "trap 'echo run $n ends; exit 0' USR1; while :; do sleep 0.1; done";
  // Once its shell has set its trap.
  auto end_run = [](pid_t pid) {
    for (int i = 0; i < 200 && pid > 0; ++i) {
      if ((std::stoull("0" + proc_status(pid, "SigCgt"), nullptr, 16) >> (SIGUSR1 - 1) & 1) != 0)
        return ::kill(pid, SIGUSR1) == 0;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  };
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--restart=on-failure", "--",
                      "/bin/sh", "-c", app}),
            {.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  pid_t first = wait_app_pid(uuid, "busybox");
  ASSERT_GT(first, 0);
  pid_t init = std::stoi(proc_status(first, "PPid"));
  ASSERT_GT(init, 1);
  // With the pod's journald stopped, the recorder of the first run's end
  // waits for it before it ends the pod (the app was its last).
  pid_t journald = pod_process(uuid, "systemd-journal", "/systemd-journald.service");
  ASSERT_GT(journald, 0);
  ASSERT_EQ(::kill(journald, SIGSTOP), 0);
  std::string upper = app_upper(uuid, "busybox");
  ASSERT_TRUE(end_run(first));
  std::string record = pod_dir(uuid) + "/status/busybox";
  for (int i = 0; i < 400 && !std::filesystem::exists(record); ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(std::filesystem::exists(record)) << "the first run's end was not recorded";
  pid_t recorder = pod_process(uuid, "app-exited", "/app-success@busybox.service");
  ASSERT_GT(recorder, 0) << "the recorder of the first run is not waiting";
  ASSERT_EQ(::kill(recorder, SIGSTOP), 0);
  ::kill(journald, SIGCONT);
  // The reboot waits for the recorder, gives up, and starts the app again.
  ASSERT_EQ(::kill(init, SIGINT), 0);
  for (int i = 0; i < 600 && read_file(upper + "/count") != "2\n"; ++i) std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(read_file(upper + "/count"), "2\n") << "the app did not start again";
  ::kill(recorder, SIGCONT);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(::kill(init, 0), 0) << "the first run's recorder ended the pod";
  EXPECT_FALSE(std::filesystem::exists(record)) << "the first run's end was recorded for the second";
  EXPECT_TRUE(end_run(wait_app_pid(uuid, "busybox")));
  Result r = p.wait();
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("run 1 ends\n"));
  EXPECT_THAT(r.out, HasSubstr("run 2 ends\n"));
  EXPECT_TRUE(nspawn_gone(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace crt::test
