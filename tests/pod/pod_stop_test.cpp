// crt stop, checked from the outside: gracefully, with its timeouts, by
// force, several stops at once, a stop told to stop; and how the pod's apps
// are recorded as they end by it.

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "pod_commands_fixture.hpp"

namespace crt::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(PodCommandsTest, AnAppKilledWithThePodIsRecordedAndIsNoFailureOfItsOwn) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "--exit-policy=on-all-exit", "busybox",
                      "--name=done", "--", "/bin/true", "---", "busybox", "--name=stuck", "--", "/bin/sh", "-c",
                      "trap '' TERM; echo trapped; while :; do sleep 0.1; done"}),
            detached());
  std::string uuid = wait_uuid(file);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(pod_dir(uuid) + "/status/done") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // A stop before the trap is set would end stuck with SIGTERM.
  wait_for_output(uuid, "trapped");
  EXPECT_EQ(crt({"stop", "--timeout=1", uuid}).status, 0);
  Result run = p.wait();
  // stuck was killed by the stop: recorded so (no failure of its own), and
  // crt run says the kill (137, as when no app had ended before it).
  EXPECT_EQ(run.status, 128 + SIGKILL) << run.err;
  EXPECT_THAT(run.err, HasSubstr("the pod was killed before app 'stuck' ended"));
  std::string status = crt({"status", uuid}).out;
  EXPECT_THAT(status, HasSubstr("app-done=0\n"));
  EXPECT_THAT(status, HasSubstr("app-stuck=137\n"));
}

TEST_F(PodCommandsTest, StopIsGracefulAndTheLastLineIsKept) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                      "trap 'echo last words; exit 0' TERM; echo up; while :; do sleep 0.1; done"}),
            detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  wait_for_output(uuid, "up");
  Result r = crt({"stop", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, uuid + "\n");
  EXPECT_EQ(status_field(uuid, "state"), "exited");
  Result run = p.wait();
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("last words\n"));
  r = crt({"logs", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("up\n"));
  EXPECT_THAT(r.out, HasSubstr("last words\n"));
}

// Early in its boot the pod's systemd would lose the orderly stop: crt stop
// waits until it takes one, rather than for its timeout.
TEST_F(PodCommandsTest, StopEarlyInTheBootIsStillPrompt) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), detached());
  std::string uuid = wait_uuid(file);
  // As soon as crt has started nspawn.
  auto until = std::chrono::steady_clock::now() + seconds(20);
  while (!std::filesystem::exists(pod_dir(uuid) + "/pid") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto start = std::chrono::steady_clock::now();
  Result r = crt({"stop", "--timeout=60", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  // Not its timeout: the rest of the boot, the stop and crt run's clean-up.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(30));
  EXPECT_EQ(status_field(uuid, "state"), "exited");
  // Stopped on request, whether or not its app had started: not a failure.
  Result run = p.wait();
  EXPECT_EQ(run.status, 128 + SIGTERM) << run.err;
}

TEST_F(PodCommandsTest, StopKillsWhatIgnoresSigtermAfterTheTimeout) {
  std::unique_ptr<Process> p;
  std::string uuid = run_app_ignoring_sigterm(p);
  auto start = std::chrono::steady_clock::now();
  Result r = crt({"stop", "--timeout=2", uuid});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_GE(took, seconds(2));
  EXPECT_LT(took, seconds(10));
  EXPECT_EQ(status_field(uuid, "state"), "exited");
  Result run = p->wait();
  // The app never ended on its own: killed with its pod, and so recorded.
  EXPECT_EQ(run.status, 128 + SIGKILL) << run.err;
  EXPECT_THAT(run.err, HasSubstr("the pod was killed before its apps ended"));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-busybox=137\n"));
}

// --timeout=0 sends the stop signal, then kills the pod at once (a second
// SIGTERM to nspawn right after the first could reach it as one, an orderly
// stop that waited for the apps' own timeout, then failed).
TEST_F(PodCommandsTest, StopWithATimeoutOfZeroKillsAtOnce) {
  for (const char* timeout : {"--timeout=0", "--timeout=1ms"}) {
    std::unique_ptr<Process> p;
    std::string uuid = run_app_ignoring_sigterm(p);
    auto start = std::chrono::steady_clock::now();
    Result r = crt({"stop", timeout, uuid});
    EXPECT_EQ(r.status, 0) << timeout << ": " << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3)) << timeout;
    EXPECT_EQ(p->wait().status, 128 + SIGKILL) << timeout;
  }
}

// A pod killed right after the stop signal: its app's words on the signal
// (its shell's "Terminated" for a sleep the stop killed, its trap's) come
// as the pod's journald dies, and cannot reach the pod's journal. crt run
// says the pod was killed, and not that an app's output fails to reach the
// journal (a race: seen in 2 of 5 runs).
TEST_F(PodCommandsTest, AKilledPodsLastOutputIsNoWarningOfItsJournal) {
  std::string file = dir_ + "/uuid";
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    std::filesystem::remove(file);
    Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                        "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.1; done"}),
              detached());
    std::string uuid = wait_uuid(file);
    ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
    EXPECT_EQ(crt({"stop", "--timeout=0", uuid}).status, 0);
    Result run = p.wait();
    EXPECT_EQ(run.status, 128 + SIGKILL) << run.err;
    EXPECT_THAT(run.err, Not(HasSubstr("warning"))) << run.err;
    EXPECT_THAT(run.err, HasSubstr("crt: the pod was killed before its apps ended\n"));
    ASSERT_EQ(crt({"rm", uuid}).status, 0);
  }
}

// The apps' units were written for the pod's --stop-timeout (20 s: 10 s
// for an app): a longer crt stop --timeout gives them the longer time.
TEST_F(PodCommandsTest, ALongerStopTimeoutIsTheAppsToo) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                      "trap 'echo stopping; sleep 11.5; echo stopped; exit 0' TERM; echo trapped; "
                      "while :; do sleep 0.1; done"}),
            detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  wait_for_output(uuid, "trapped");
  Result r = crt({"stop", "--timeout=25", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  Result run = p.wait();
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("stopping\n"));
  EXPECT_THAT(run.out, HasSubstr("stopped\n"));
}

// Without --timeout, crt stop gives the pod the time its run asked for
// (here 25 s: 15 s for an app), not a shorter one of its own.
TEST_F(PodCommandsTest, CrtStopTakesThePodsOwnStopTimeout) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "--stop-timeout=25s", "busybox", "--", "/bin/sh", "-c",
                      "trap 'echo stopping; sleep 10.5; echo stopped; exit 0' TERM; echo trapped; "
                      "while :; do sleep 0.1; done"}),
            detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  wait_for_output(uuid, "trapped");
  Result r = crt({"stop", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  Result run = p.wait();
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("stopped\n"));
}

TEST_F(PodCommandsTest, ForceStopIsImmediate) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                      "trap '' TERM; while :; do sleep 0.1; done"}),
            detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  auto start = std::chrono::steady_clock::now();
  Result r = crt({"stop", "--force", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  // Well under the 10 s an orderly stop would wait for the app.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(8));
  Result run = p.wait();
  EXPECT_EQ(run.status, 128 + SIGKILL) << run.err;
  EXPECT_THAT(run.err, HasSubstr("killed"));
}

// Also when another app had ended well before: the kill is no success,
// whether the pod was ready (slow runs) or not (slow holds its readiness).
TEST_F(PodCommandsTest, ForceStopOfAPodWhoseOtherAppEndedIsStillAKill) {
  std::string file = dir_ + "/uuid";
  for (bool ready : {true, false}) {
    SCOPED_TRACE(ready ? "ready" : "not ready");
    std::vector<std::string> slow = {"busybox", "--name=slow", "--", "/bin/sleep", "60"};
    if (!ready) slow.insert(slow.begin() + 2, "--notify");
    std::vector<std::string> argv = {
        "run", "--net=none", "--uuid-file-save=" + file, "busybox", "--name=quick", "--", "/bin/true", "---"};
    argv.insert(argv.end(), slow.begin(), slow.end());
    Process p(crt_argv(argv), detached());
    std::string uuid = wait_uuid(file);
    std::string quick = dir_ + "/pods/run/" + uuid + "/status/quick";
    for (int i = 0; i < 200 && !std::filesystem::exists(quick); ++i) std::this_thread::sleep_for(milliseconds(50));
    ASSERT_TRUE(std::filesystem::exists(quick));
    // quick's end comes before crt has seen the pod ready (slower on a
    // systemd host): a pod killed before then has no app recorded as killed.
    if (ready) {
      ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
    }
    EXPECT_EQ(crt({"stop", "--force", uuid}).status, 0);
    Result run = p.wait();
    EXPECT_EQ(run.status, 128 + SIGKILL) << run.err;
    EXPECT_THAT(run.err, HasSubstr("the pod was killed before app 'slow' ended"));
    Result st = crt({"status", uuid});
    EXPECT_THAT(st.out, HasSubstr("app-quick=0\n"));
    if (ready) {
      EXPECT_THAT(st.out, HasSubstr("app-slow=137\n"));
    }
    std::filesystem::remove(file);
  }
}

TEST_F(PodCommandsTest, ASecondStopWaitsForTheFirstAndForceStillKills) {
  for (bool force : {false, true}) {
    SCOPED_TRACE(force ? "then --force" : "then a plain stop");
    std::unique_ptr<Process> p;
    std::string uuid = run_graceful_app(p, dir_ + "/uuid-" + std::to_string(force));
    ASSERT_FALSE(uuid.empty());
    Process first(crt_argv({"stop", uuid}), detached());
    ASSERT_TRUE(wait_stop_reached_app(uuid));
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> second = {"stop", uuid};
    if (force) second.insert(second.begin() + 1, "--force");
    Result r = crt(second);
    EXPECT_EQ(r.status, 0) << r.err;
    Result run = p->wait();
    EXPECT_EQ(first.wait().status, 0);
    if (force) {
      EXPECT_EQ(run.status, 128 + SIGKILL) << run.err;
      EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
    } else {
      // The app ended as the first stop asked it to.
      EXPECT_EQ(run.status, 0) << run.err;
      EXPECT_EQ(run.out, "graceful\n");
      EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(1000));
    }
  }
}

// crt stop of several pods, told to stop (a ^C, SIGTERM), finishes the stop
// of the pod at hand rather than leave it stopping with no one to kill it
// after its timeout, says which pods it stopped, and ends by the signal;
// the other pods run on. A second signal ends it at once.
TEST_F(PodCommandsTest, AStopOfSeveralToldToStopFinishesThePodAtHand) {
  std::unique_ptr<Process> a_run, b_run;
  std::string a = run_graceful_app(a_run, dir_ + "/uuid-a");
  std::string b = run_graceful_app(b_run, dir_ + "/uuid-b");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  Process stop(crt_argv({"stop", a, b}));
  ASSERT_TRUE(wait_stop_reached_app(a));
  stop.signal(SIGTERM);
  Result r = stop.wait();
  EXPECT_EQ(r.signal, SIGTERM) << r.status << " " << r.err;
  EXPECT_EQ(r.out, a + "\n");
  EXPECT_EQ(r.err, "crt: interrupted by SIGTERM\n");
  EXPECT_EQ(status_field(a, "state"), "exited");
  EXPECT_EQ(status_field(b, "state"), "running");
  Result run = a_run->wait();
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "graceful\n");
  // The second signal: at once, nothing said (the pod stops all the same).
  Process again(crt_argv({"stop", b}));
  ASSERT_TRUE(wait_stop_reached_app(b));
  again.signal(SIGTERM);
  std::this_thread::sleep_for(milliseconds(100));
  again.signal(SIGTERM);
  r = again.wait();
  EXPECT_EQ(r.signal, SIGTERM) << r.status << " " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(b_run->wait().out, "graceful\n");
}

TEST_F(PodCommandsTest, AStopWhileCrtRunStopsThePodWaitsForIt) {
  std::unique_ptr<Process> p;
  std::string uuid = run_graceful_app(p, dir_ + "/uuid");
  ASSERT_FALSE(uuid.empty());
  // The user stops crt run (as Ctrl-C or systemctl stop would), then runs
  // crt stop as well.
  p->signal(SIGTERM);
  EXPECT_TRUE(wait_stop_sent(uuid));
  Result r = crt({"stop", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  Result run = p->wait();
  // The app ended well (0); crt ends by the signal that stopped it.
  EXPECT_EQ(run.signal, SIGTERM) << run.status << " " << run.err;
  EXPECT_EQ(run.out, "graceful\n") << "killed instead of stopped";
}

TEST_F(PodCommandsTest, StoppingAStoppedPodSucceedsAndAnUnstartedOneIsRefused) {
  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> exited = pods("run");
  ASSERT_EQ(exited.size(), 1u);
  // As systemctl stop of an inactive unit: a script's stop may come after
  // the pod's own end.
  r = crt({"stop", exited[0]});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, exited[0] + "\n");
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(crt({"gc", "--mark-only"}).status, 0);
  ASSERT_EQ(pods("exited-garbage"), exited);
  r = crt({"stop", "--force", exited[0]});
  EXPECT_EQ(r.status, 0) << r.err;

  r = crt({"prepare", "--quiet", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string prepared = r.out.substr(0, 36);
  r = crt({"stop", prepared});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("stopping pod " + prepared + ": it is prepared, not running"));
  EXPECT_EQ(pods("prepared"), std::vector<std::string>{prepared});
}

// crt stop as soon as the pod's UUID is known: the pod is still mounting
// and has no nspawn yet. crt stop waits for it, and the pod stops.
TEST_F(PodCommandsTest, StoppingAPodThatIsStillStartingStopsIt) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), detached());
  std::string uuid = wait_uuid(file);
  Result r = crt({"stop", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(p.wait().status, 143);
}

}  // namespace
}  // namespace crt::test
