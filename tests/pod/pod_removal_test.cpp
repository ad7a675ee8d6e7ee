// Removing pods, checked from the outside: crt rm, crt gc (its grace
// periods, what dead pods and crashed crts left), crt run --rm and its
// watch; nothing may be left behind.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "pod_commands_fixture.hpp"

namespace crt::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(PodCommandsTest, RemoveRefusesARunningPodAndCleansAnExitedOne) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  Result r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("it is running; stop it first"));
  ASSERT_EQ(crt({"stop", uuid}).status, 0);
  p.wait();
  r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(pod_dir(uuid)));
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// Another crt holding an exited pod for a while (crt gc tearing down its
// network) or removing it (another crt rm, or gc) makes it read as running
// or deleting: crt rm waits for the hold to pass instead of refusing it.
TEST_F(PodCommandsTest, RemoveWaitsOutAnotherCrtsHoldOnThePod) {
  auto hold = [](const std::string& dir, milliseconds for_how_long, bool remove) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    return std::thread([=] {
      std::this_thread::sleep_for(for_how_long);
      if (remove) std::filesystem::remove_all(dir);
      ::close(fd);
    });
  };
  // crt rm of a pod another holds at `dir` for 1.5 s, which reads `state`.
  auto rm_while_held = [&](const std::string& uuid, const std::string& dir, const char* state, bool remove) {
    std::thread t = hold(dir, milliseconds(1500), remove);
    EXPECT_EQ(status_field(uuid, "state"), state);
    Result r = crt({"rm", uuid});
    t.join();
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir));
    return r;
  };
  std::string file = dir_ + "/uuid";
  // Held in run/, as gc's network teardown holds it.
  ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  std::string uuid = wait_uuid(file);
  EXPECT_EQ(rm_while_held(uuid, pod_dir(uuid), "running", false).out, uuid + "\n");

  // Removed by another crt meanwhile: gone, as asked.
  ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  uuid = wait_uuid(file);
  ASSERT_EQ(crt({"gc", "--mark-only"}).status, 0);
  rm_while_held(uuid, dir_ + "/pods/exited-garbage/" + uuid, "deleting", true);

  // A prepared pod held a moment (another crt rm, gc marking it).
  Result r = crt({"prepare", "--quiet", "--net=none", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  uuid = r.out.substr(0, 36);
  rm_while_held(uuid, dir_ + "/pods/prepared/" + uuid, "preparing", false);
}

// A pod another process holds: the refusal names the process.
TEST_F(PodCommandsTest, APodAnotherProcessHoldsIsRefusedNamingIt) {
  Result r = crt({"prepare", "--quiet", "--net=none", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  // flock(1) holds it and runs sleep, which inherits the hold.
  Process holder({"flock", "--exclusive", dir_ + "/pods/prepared/" + uuid, "sleep", "60"}, detached());
  for (int i = 0; i < 500 && status_field(uuid, "state") != "preparing"; ++i)
    std::this_thread::sleep_for(milliseconds(10));
  r = crt({"run-prepared", uuid});
  ::kill(-holder.pid(), SIGKILL);
  holder.wait();
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is busy: another crt is starting, removing or collecting it (PID " +
                               std::to_string(holder.pid()) + " (flock), PID "));
  EXPECT_THAT(r.err, HasSubstr(" (sleep); see 'crt status " + uuid + "')"));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

TEST_F(PodCommandsTest, GcAfterTheSupervisorWasKilledLeavesNothing) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  p.signal(SIGKILL);
  p.wait();
  ASSERT_EQ(crt({"status", uuid, "--wait=20s"}).status, 0);
  std::string id = uuid;
  std::erase(id, '-');
  std::string journal_link = "/var/log/journal/" + id;
  EXPECT_TRUE(std::filesystem::is_symlink(journal_link)) << "nspawn's link to the pod's journal was not made";
  bool cgroup_left = false;
  for (const auto& d : pod_cgroup_dirs(uuid)) cgroup_left = cgroup_left || std::filesystem::exists(d);
  // Without systemd the pod's cgroup is crt's to remove; on a systemd host
  // the pod's scope is systemd's, which removes it once it is empty.
  if (!std::filesystem::exists("/run/systemd/system")) {
    EXPECT_TRUE(cgroup_left) << "nothing to clean up: the test proves nothing";
  }
  Result r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed " + uuid));
  for (const auto& d : pod_cgroup_dirs(uuid)) EXPECT_TRUE(cgroup_gone(d)) << d;
  EXPECT_THAT(NetSnapshot::take().mentioning("crt-" + uuid), ::testing::IsEmpty()) << "its network was left";
  EXPECT_FALSE(std::filesystem::exists(pod_dir(uuid)));
  EXPECT_FALSE(std::filesystem::is_symlink(journal_link)) << "the link to its journal was left";
}

// A pod gc cannot mark (its note of when cannot be written, as on a full
// disk) keeps no other pod from being marked or removed; without a grace
// period no note is written, so such a pod goes too.
TEST_F(PodCommandsTest, APodGcCannotMarkKeepsNoOtherAndGoesWithoutAGracePeriod) {
  std::string file = dir_ + "/uuid";
  std::vector<std::string> uuids;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
    uuids.push_back(wait_uuid(file));
  }
  std::filesystem::create_directory(pod_dir(uuids[1]) + "/gc-marked");  // the note's rename fails
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("marking pod " + uuids[1] + ": "));
  EXPECT_THAT(r.out, HasSubstr("marked " + uuids[0] + "\n"));
  EXPECT_EQ(pods("exited-garbage"), std::vector<std::string>{uuids[0]});
  r = crt({"gc", "--grace-period=0s"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const auto& uuid : uuids) EXPECT_THAT(r.out, HasSubstr("removed " + uuid + "\n"));
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// A crt killed between making its pod's cgroup and noting which it made
// has noted first that it was making it: gc removes what is empty of it.
TEST_F(PodCommandsTest, GcRemovesTheCgroupOfACrtKilledWhileItMadeIt) {
  if (std::filesystem::exists("/run/systemd/system")) GTEST_SKIP() << "the host's systemd makes the pods' cgroups";
  std::string file = dir_ + "/uuid";
  ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  std::string uuid = wait_uuid(file);
  std::string record = read_file(pod_dir(uuid) + "/cgroup");
  std::string relative = record.substr(0, record.find('\n'));
  EXPECT_EQ(relative, crt::cgroup::PodCgroup::relative_path("crt-" + uuid));
  // What such a crt leaves: the directories, and the record of before.
  std::ofstream(pod_dir(uuid) + "/cgroup", std::ios::trunc) << relative << "\nbeing made\n";
  for (const auto& d : pod_cgroup_dirs(uuid)) std::filesystem::create_directories(d);
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed cgroup " + relative + "\n"));
  for (const auto& d : pod_cgroup_dirs(uuid)) EXPECT_FALSE(std::filesystem::exists(d)) << d;
  EXPECT_EQ(crt({"status", uuid}).status, 0) << "removed before its grace period";

  // Not a pod of a name of its own: that name's cgroup may be another's, running.
  ASSERT_EQ(
      crt({"run", "--net=none", "--pod-name=web", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  std::string named = wait_uuid(file);
  std::string web = crt::cgroup::PodCgroup::relative_path("web");
  std::ofstream(pod_dir(named) + "/cgroup", std::ios::trunc) << web << "\nbeing made\n";
  Process running(crt_argv({"run", "--net=none", "--pod-name=web", "--uuid-file-save=" + file + "2", "busybox", "--",
                            "/bin/sleep", "60"}),
                  detached());
  std::string live = wait_uuid(file + "2");
  ASSERT_EQ(crt({"status", "--wait-ready=30s", live}).status, 0);
  auto dirs = [&] {
    size_t n = 0;
    for (const auto& top : crt::cgroup::PodCgroup(crt::cgroup::detect_layout(), web).paths())
      for (std::error_code ec; const auto& e : std::filesystem::recursive_directory_iterator(top, ec))
        n += e.is_directory() ? 1 : 0;
    return n;
  };
  size_t before = dirs();
  EXPECT_GT(before, 0U);
  r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("removed cgroup")));
  EXPECT_EQ(dirs(), before) << "cgroups of the running pod were removed";
  EXPECT_EQ(crt({"stop", live}).status, 0);
  EXPECT_EQ(running.wait().status, 143);
}

// A pod's name is free again once it exited: a new pod of that name has a
// cgroup of the same path, which cleaning up after the old one leaves alone.
TEST_F(PodCommandsTest, RemovingAPodLeavesTheRunningPodOfItsNameAlone) {
  std::string file = dir_ + "/uuid";
  std::vector<std::string> old;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(crt({"run", "--net=none", "--pod-name=reused", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"})
                  .status,
              0);
    old.push_back(wait_uuid(file));
  }
  Process named(crt_argv({"run", "--net=none", "--pod-name=reused", "--uuid-file-save=" + file + "2", "busybox", "--",
                          "/bin/sleep", "60"}),
                {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string web = wait_uuid(file + "2");
  ASSERT_EQ(crt({"status", "--wait-ready=30s", web}).status, 0);
  Result r = crt({"rm", old[0]});
  EXPECT_EQ(r.status, 0) << r.err;
  r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed " + old[1]));
  EXPECT_THAT(r.out, Not(HasSubstr("removed cgroup")));
  EXPECT_EQ(crt({"status", web}).out.find("state=running"), 0U) << "the running pod of that name was killed";
  EXPECT_EQ(crt({"stop", web}).status, 0);
  EXPECT_EQ(named.wait().status, 143);
}

/// Tests that mount into the host's namespace under their directory: every
/// pod started meanwhile, by any test, would take a copy of those mounts into
/// its own namespace; so no other pod test runs at the same time.
class ExclusivePodTest : public PodTest {
 protected:
  ExclusivePodTest() : PodTest(true) {}
};

TEST_F(ExclusivePodTest, MountsACrashLeftAreUnmountedEvenWhenBusy) {
  // What a crashed crt of old, or a user, may leave in the host's mount
  // namespace under a pod directory: an overlay with a tmpfs inside, in use.
  namespace stdfs = std::filesystem;
  auto leave_mounts = [&](const std::string& uuid) {
    std::string pod = pod_dir(uuid);
    for (const char* d : {"/leak-lower", "/leak-upper", "/leak-work", "/stage1/rootfs"})
      stdfs::create_directories(pod + d);
    std::string opts = "lowerdir=" + pod + "/leak-lower,upperdir=" + pod + "/leak-upper,workdir=" + pod + "/leak-work";
    EXPECT_EQ(::mount("overlay", (pod + "/stage1/rootfs").c_str(), "overlay", 0, opts.c_str()), 0) << strerror(errno);
    stdfs::create_directories(pod + "/stage1/rootfs/tmp");
    EXPECT_EQ(::mount("tmpfs", (pod + "/stage1/rootfs/tmp").c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
    return ::open((pod + "/stage1/rootfs/tmp/busy").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  };
  auto mounted_under = [&](const std::string& dir) {
    return read_file("/proc/self/mountinfo").find(" " + dir) != std::string::npos;
  };
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  std::string one = pods("run").at(0);
  int busy = leave_mounts(one);
  ASSERT_GE(busy, 0);
  ASSERT_TRUE(mounted_under(pod_dir(one)));
  Result r = crt({"rm", one});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(mounted_under(pod_dir(one)));
  EXPECT_FALSE(stdfs::exists(pod_dir(one)));
  ::close(busy);

  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  std::string two = pods("run").at(0);
  busy = leave_mounts(two);
  r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed " + two));
  EXPECT_FALSE(mounted_under(dir_ + "/pods"));
  ::close(busy);
}

TEST_F(PodCommandsTest, GcExpiresOldPreparedPods) {
  Result r = crt({"prepare", "--quiet", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(status_field(uuid, "state"), "prepared") << "a fresh prepared pod stays";
  std::this_thread::sleep_for(milliseconds(1100));
  r = crt({"gc", "--grace-period=0", "--expire-prepared=1s"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(uuid));
  EXPECT_TRUE(pods("prepared").empty());
  EXPECT_TRUE(pods("garbage").empty()) << "marked and removed in one gc with no grace period";
}

TEST_F(PodCommandsTest, AbortedPrepareAndDeletingStatesAndWhatGcDoesWithThem) {
  namespace stdfs = std::filesystem;
  // What a crt killed while preparing leaves: a pod in prepare/ that nobody
  // holds.
  Result r = crt({"prepare", "--quiet", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string aborted = r.out.substr(0, 36);
  stdfs::rename(dir_ + "/pods/prepared/" + aborted, dir_ + "/pods/prepare/" + aborted);
  EXPECT_EQ(status_field(aborted, "state"), "aborted prepare");
  EXPECT_THAT(crt({"list", "--no-legend"}).out, HasSubstr("aborted prepare"));

  // A pod another crt is removing (its lock held, in a garbage folder).
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  std::string deleting = pods("run").at(0);
  ASSERT_EQ(crt({"gc", "--mark-only"}).status, 0);
  std::string garbage_dir = dir_ + "/pods/exited-garbage/" + deleting;
  int fd = ::open(garbage_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(status_field(deleting, "state"), "deleting");

  // gc leaves an aborted prepare whose directory just changed (it may be a
  // crt's that has made it and is about to lock it).
  r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(stdfs::exists(dir_ + "/pods/prepare/" + aborted));
  // gc removes an older aborted prepare at once and leaves the busy pod for
  // later without failing; once free, it goes too.
  stdfs::last_write_time(dir_ + "/pods/prepare/" + aborted,
                         stdfs::file_time_type::clock::now() - std::chrono::minutes(1));
  r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists(dir_ + "/pods/prepare/" + aborted));
  EXPECT_TRUE(stdfs::exists(garbage_dir));
  ::close(fd);
  r = crt({"gc", "--grace-period=0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed " + deleting));
  EXPECT_FALSE(stdfs::exists(garbage_dir));
}

TEST_F(PodCommandsTest, GcKeepsExitedPodsForTheGracePeriod) {
  ASSERT_EQ(crt({"run", "busybox", "--", "/bin/true"}).status, 0);
  std::string uuid = pods("run").at(0);
  Result r = crt({"gc"});
  EXPECT_THAT(r.out, HasSubstr("marked " + uuid));
  EXPECT_EQ(status_field(uuid, "state"), "exited garbage");
  r = crt({"gc", "--mark-only", "--grace-period=0"});
  EXPECT_EQ(status_field(uuid, "state"), "exited garbage");
  r = crt({"gc", "--grace-period=0"});
  EXPECT_THAT(r.out, HasSubstr("removed " + uuid));
  // A run that only marks, whatever its grace period, leaves it to the next.
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  uuid = pods("run").at(0);
  r = crt({"gc", "--mark-only", "--grace-period=0"});
  EXPECT_THAT(r.out, HasSubstr("marked " + uuid));
  r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("removed " + uuid)));
  EXPECT_EQ(status_field(uuid, "state"), "exited garbage");
}

// crt run --rm (and run-prepared --rm) removes the pod as it ends, all of
// it, and exits with the app's status; the app's output was crt's.
TEST_F(PodCommandsTest, RunRmRemovesThePodAndKeepsTheAppsExitStatus) {
  std::string file = dir_ + "/uuid";
  Result r = crt(
      {"run", "--rm", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c", "echo bye; exit 42"});
  EXPECT_EQ(r.status, 42) << r.err;
  EXPECT_EQ(r.out, "bye\n");
  EXPECT_EQ(r.err, "");
  std::string uuid = read_file(file).substr(0, 36);
  r = crt({"prepare", "--quiet", "--net=none", "busybox", "--", "/bin/sh", "-c", "exit 7"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string prepared = r.out.substr(0, 36);
  // What a crt killed as it replaced the pod's journal link leaves.
  std::string prepared_id = prepared;
  std::erase(prepared_id, '-');
  std::string temporary_link = "/var/log/journal/.#" + prepared_id + ".crt-AbC123";
  std::error_code ec;  // no /var/log/journal (a volatile journal): none to leave
  std::filesystem::create_directory_symlink(pod_dir(prepared) + "/overlay/stage1/upper/var/log/journal/" + prepared_id,
                                            temporary_link, ec);
  r = crt({"run-prepared", "--rm", prepared});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_FALSE(std::filesystem::is_symlink(temporary_link)) << "the journal link's temporary name was left";
  std::filesystem::remove(temporary_link);
  for (const auto& gone : {uuid, prepared}) {
    for (const char* state : {"prepare", "prepared", "run", "exited-garbage", "garbage"})
      EXPECT_THAT(pods(state), Not(::testing::Contains(gone))) << state;
    EXPECT_THAT(crt({"list"}).out, Not(HasSubstr(gone)));
    EXPECT_EQ(crt({"status", gone}).status, 254);
    std::string id = gone;
    std::erase(id, '-');
    EXPECT_FALSE(std::filesystem::is_symlink("/var/log/journal/" + id)) << "the link to its journal was left";
  }
  EXPECT_THAT(run({"findmnt", "-rn", "-t", "overlay", "-o", "TARGET"}).out, Not(HasSubstr(dir_)));
  EXPECT_EQ(crt({"prepare", "--rm", "busybox"}).err,
            "crt: --interactive, --debug, --rm and --stop-timeout are options of 'crt run-prepared', not of 'crt "
            "prepare'\n");
}

// A prepared pod whose start fails (before its apps ran) is prepared again,
// as without --rm: crt run-prepared did not make it, and the next start may
// work.
TEST_F(PodCommandsTest, RunPreparedRmLeavesAPodWhoseStartFailedPrepared) {
  std::string src = dir_ + "/src";
  std::filesystem::create_directory(src);
  Result r = crt({"prepare", "--quiet", "--net=none", "--volume=v,kind=host,source=" + src, "busybox",
                  "--mount=volume=v,target=/v", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  std::filesystem::remove(src);  // the start cannot mount it
  r = crt({"run-prepared", "--rm", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("No such file or directory"));
  EXPECT_EQ(pods("prepared"), std::vector<std::string>{uuid});
  std::filesystem::create_directory(src);
  EXPECT_EQ(crt({"run-prepared", "--rm", uuid}).status, 0);
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// Stopped by a signal, crt run --rm still removes its pod, and ends by the
// signal as it would have.
TEST_F(PodCommandsTest, RunRmStoppedBySigtermRemovesThePod) {
  std::unique_ptr<Process> p;
  std::string uuid = run_rm_pod(p);
  ASSERT_NE(uuid, "");
  p->signal(SIGTERM);
  Result r = p->wait();
  EXPECT_EQ(r.signal, SIGTERM) << r.status << " " << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(std::filesystem::exists(pod_dir(uuid)));
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// A pod of crt run --rm whose crt was killed is stopped by the pod's watch,
// which then removes it, as crt would have.
TEST_F(PodCommandsTest, TheWatchRemovesThePodOfAKilledRunRm) {
  std::unique_ptr<Process> p;
  std::string uuid = run_rm_pod(p);
  ASSERT_NE(uuid, "");
  p->signal(SIGKILL);
  p->wait();
  // nspawn and the watch's last command name the state directory.
  auto running = [this] { return run({"pgrep", "-f", dir_}).status == 0; };
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((std::filesystem::exists(pod_dir(uuid)) || running()) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(std::filesystem::exists(pod_dir(uuid)));
  EXPECT_FALSE(running());
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
  EXPECT_THAT(run({"findmnt", "-rn", "-t", "overlay", "-o", "TARGET"}).out, Not(HasSubstr(dir_)));
}

// Where the watch was killed too (as systemd kills a unit's), the exited pod
// of crt run --rm is left: crt gc takes it at once, as it was asked never to
// be kept, not after the grace period.
TEST_F(PodCommandsTest, GcRemovesAnExitedPodOfRunRmAtOnce) {
  std::unique_ptr<Process> p;
  std::string uuid = run_rm_pod(p);
  ASSERT_NE(uuid, "");
  std::string nspawn = read_file(pod_dir(uuid) + "/pid");
  nspawn.erase(nspawn.find_last_not_of('\n') + 1);
  ASSERT_EQ(run({"pkill", "-KILL", "-x", "-f", "pod-watch " + nspawn}).status, 0);
  p->signal(SIGKILL);
  p->wait();
  ASSERT_EQ(crt({"stop", uuid}).status, 0);
  ASSERT_EQ(crt({"status", uuid, "--wait=20s"}).status, 0);
  ASSERT_TRUE(std::filesystem::exists(pod_dir(uuid)));
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed " + uuid));
  EXPECT_FALSE(std::filesystem::exists(pod_dir(uuid)));
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// crt gc and crt rm of several pods, told to stop (SIGTERM: crt-gc.service
// stopped at shutdown; a ^C), finish the pod they are removing rather than
// leave it half removed, say what they did, and end by the signal; the
// other pods are left whole, for the next gc.
TEST_F(PodCommandsTest, GcAndRmToldToStopFinishThePodAtHand) {
  constexpr int kFiles = 40000;  // a removal that takes a moment
  std::vector<std::string> uuids;
  for (int i = 0; i < 4; ++i) {
    std::string file = dir_ + "/uuid" + std::to_string(i);
    ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
    uuids.push_back(wait_uuid(file));
    std::string many = pod_dir(uuids.back()) + "/many";
    std::filesystem::create_directory(many);
    for (int f = 0; f < kFiles; ++f)
      ::close(::open((many + "/" + std::to_string(f)).c_str(), O_CREAT | O_WRONLY, 0644));
  }
  // Where pod `uuid` is, whole: its files all there (a few looked at).
  auto where_whole = [&](const std::string& uuid) -> std::string {
    for (const char* state : {"run", "exited-garbage"}) {
      std::string many = dir_ + "/pods/" + state + "/" + uuid + "/many/";
      if (!std::filesystem::exists(dir_ + "/pods/" + state + "/" + uuid)) continue;
      for (int f = 0; f < kFiles; f += kFiles / 64)
        if (!std::filesystem::exists(many + std::to_string(f))) return std::string(state) + " (in part)";
      return state;
    }
    return "gone";
  };
  // Signals `p` once the removal of one of `pods` has begun (in
  // exited-garbage/: a pod seen in run/ as it moves there would read as in
  // part).
  auto stop_during_a_removal = [&](Process& p, const std::vector<std::string>& pods) {
    for (int i = 0; i < 2000; ++i) {
      for (const auto& u : pods)
        if (where_whole(u) == "exited-garbage (in part)") {
          p.signal(SIGTERM);
          return;
        }
      std::this_thread::sleep_for(milliseconds(2));
    }
    ADD_FAILURE() << "no removal began";
  };
  Process rm(crt_argv({"rm", uuids[0], uuids[1]}));
  stop_during_a_removal(rm, {uuids[0], uuids[1]});
  Result r = rm.wait();
  EXPECT_EQ(r.signal, SIGTERM) << r.status << " " << r.err;
  EXPECT_EQ(r.out, uuids[0] + "\n");
  EXPECT_EQ(r.err, "crt: interrupted by SIGTERM\n");
  EXPECT_EQ(where_whole(uuids[0]), "gone");
  EXPECT_EQ(where_whole(uuids[1]), "run");
  Process gc(crt_argv({"gc", "--grace-period=0s"}));
  stop_during_a_removal(gc, {uuids[1], uuids[2], uuids[3]});
  r = gc.wait();
  EXPECT_EQ(r.signal, SIGTERM) << r.status << " " << r.err;
  EXPECT_EQ(r.err, "crt: interrupted by SIGTERM\n");
  int gone = 0;
  for (size_t i = 1; i < uuids.size(); ++i) {
    std::string w = where_whole(uuids[i]);
    if (w == "gone") {
      ++gone;
      EXPECT_THAT(r.out, HasSubstr("removed " + uuids[i] + "\n"));
    } else {
      EXPECT_EQ(w, "exited-garbage") << uuids[i];
    }
  }
  EXPECT_EQ(gone, 1) << r.out;
  r = crt({"gc", "--grace-period=0s"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

// Two gc at once (cron's and a user's, say): each finds pods the other is
// moving or removing, which is no failure.
TEST_F(PodCommandsTest, GcsAtOnceBothSucceed) {
  for (int i = 0; i < 6; ++i) ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  std::vector<std::unique_ptr<Process>> gcs;
  for (int i = 0; i < 3; ++i) gcs.push_back(std::make_unique<Process>(crt_argv({"gc", "--grace-period=0"})));
  for (auto& p : gcs) {
    Result r = p->wait();
    EXPECT_EQ(r.status, 0) << r.err;
  }
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
}

TEST_F(PodCommandsTest, FiftyPodsStartedAndRemovedLeaveNothing) {
  std::vector<std::string> uuids;
  for (int i = 0; i < 50; ++i) {
    Result r = crt({"run", "busybox", "--", "/bin/true"});
    ASSERT_EQ(r.status, 0) << i << ": " << r.err;
    uuids.push_back(pods("run").at(0));
    ASSERT_EQ(crt({"rm", uuids.back()}).status, 0) << i;
  }
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
  for (const auto& uuid : uuids)
    for (const auto& d : pod_cgroup_dirs(uuid)) EXPECT_FALSE(std::filesystem::exists(d)) << d;
}

}  // namespace
}  // namespace crt::test
