// Volumes, read-only rootfs, exit and restart policies, environment files and
// resource settings, checked from the outside.

#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace stdfs = std::filesystem;

class PodFeaturesTest : public PodTest {
 protected:
  std::string host_dir(const std::string& name) {
    std::string d = dir_ + "/" + name;
    stdfs::create_directories(d);
    return d;
  }
  /// A rootfs "rootfs" of busybox and /bin/sh.
  std::string busybox_rootfs() {
    std::string rootfs = host_dir("rootfs");
    stdfs::create_directories(rootfs + "/bin");
    stdfs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    stdfs::create_symlink("busybox", rootfs + "/bin/sh");
    return rootfs;
  }
};

TEST_F(PodFeaturesTest, HostVolumeReadWriteAndReadOnly) {
  std::string data = host_dir("data");
  std::ofstream(data + "/in") << "from the host\n";
  Result r = crt({"run", "--volume=data,kind=host,source=" + data, "busybox", "--mount=volume=data,target=/data", "--",
                  "/bin/sh", "-c", "cat /data/in; echo from the app > /data/out"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "from the host\n");
  EXPECT_EQ(read_file(data + "/out"), "from the app\n");
  r = crt({"run", "--volume=data,kind=host,source=" + data + ",readOnly=true", "busybox",
           "--mount=volume=data,target=/data", "--", "/bin/sh", "-c", "touch /data/x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
  EXPECT_FALSE(stdfs::exists(data + "/x"));
}

// A host path with a comma, and a target with one: "\," in --volume and
// --mount, whose values are split at commas.
TEST_F(PodFeaturesTest, AVolumesPathsMayHoldACommaEscaped) {
  std::string data = host_dir("a,b");
  std::ofstream(data + "/in") << "from the host\n";
  Result r = crt({"run", "--net=none", "--volume=data,kind=host,source=" + dir_ + "/a\\,b,readOnly=true", "busybox",
                  "--mount=volume=data,target=/x\\,y", "--", "/bin/sh", "-c", "cat '/x,y/in'; touch '/x,y/new'"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.out, "from the host\n");
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
}

TEST_F(PodFeaturesTest, AReadOnlyVolumeStaysReadOnlyWhateverItsSourceAndTheImageLinkTo) {
  // The image's /m/data leads to /m, the volume's /data to the top: looked
  // up again through the new mount, the target would be the app's root, and
  // the volume would stay writable.
  std::string rootfs = busybox_rootfs();
  stdfs::create_directories(rootfs + "/m");
  stdfs::create_symlink(".", rootfs + "/m/data");
  ASSERT_EQ(crt({"image", "import", rootfs, "linked"}).status, 0);
  std::string data = host_dir("data");
  stdfs::create_symlink("/", data + "/data");
  Result r = crt({"run", "--net=none", "--volume=v,kind=host,source=" + data + ",readOnly=true", "linked",
                  "--mount=volume=v,target=/m/data", "--", "/bin/sh", "-c", "echo app > /m/file || echo refused"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "refused\n");
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
  EXPECT_FALSE(stdfs::exists(data + "/file"));
}

TEST_F(PodFeaturesTest, AVolumeTargetEndingInADotIsItsDirectoryNotTheRoot) {
  Result r = crt({"run", "--net=none", "--volume=v,kind=empty", "busybox", "--mount=volume=v,target=/data/.", "--",
                  "/bin/sh", "-c", "grep -c ' /data ' /proc/mounts; ls /bin/sh"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1\n/bin/sh\n");
}

TEST_F(PodFeaturesTest, RecursiveHostVolumeBringsItsSubmounts) {
  std::string data = host_dir("rdata");
  stdfs::create_directories(data + "/sub");
  // The submount lives in a mount namespace of its own around crt, so that
  // no other test's pod takes a copy of it.
  auto see = [&](const std::string& extra) {
    std::vector<std::string> argv = {
        "unshare", "--mount", "--propagation=private", "sh", "-c",
        "mount -t tmpfs -o size=1m tmpfs \"$0/sub\" && echo 'in a submount' > \"$0/sub/deep\" && exec \"$@\"", data};
    for (auto& a : crt_argv({"run", "--net=none", "--volume=data,kind=host,source=" + data + extra, "busybox",
                             "--mount=volume=data,target=/data", "--", "/bin/sh", "-c", "cat /data/sub/deep || true"}))
      argv.push_back(a);
    return run(argv);
  };
  Result plain = see("");
  EXPECT_EQ(plain.status, 0) << plain.err;
  EXPECT_THAT(plain.out, Not(HasSubstr("in a submount")));
  Result recursive = see(",recursive=true");
  EXPECT_EQ(recursive.status, 0) << recursive.err;
  EXPECT_EQ(recursive.out, "in a submount\n");
  EXPECT_FALSE(stdfs::exists(data + "/sub/deep")) << "the tmpfs reached the host's namespace";
}

// What the host mounts under a host volume's source after the pod started
// stays out of the app (Docker's default, rprivate): a read-only volume
// would otherwise gain a writable mount.
TEST_F(PodFeaturesTest, AHostsLaterMountsDoNotReachAVolume) {
  std::string data = host_dir("ldata");
  stdfs::create_directories(data + "/sub");
  // In a mount namespace of its own whose mounts propagate, as the host's
  // do, so that no other test's pod takes a copy of the tmpfs: private
  // first, then shared anew, so that its mounts are no peers of the host's
  // (which a systemd host's are, shared) and the tmpfs stays in it.
  std::vector<std::string> argv = {
      "unshare",
      "--mount",
      "--propagation=private",
      "sh",
      "-c",
      "mount --make-rshared / || exit; \"$@\" & until [ -e \"$0/up\" ]; do sleep 0.05; done; "
      "mount -t tmpfs -o size=1m tmpfs \"$0/sub\" && touch \"$0/go\"; wait",
      data};
  for (auto& a : crt_argv({"run", "--net=none", "--volume=data,kind=host,source=" + data, "busybox",
                           "--mount=volume=data,target=/data", "--", "/bin/sh", "-c",
                           "touch /data/up; until [ -e /data/go ]; do sleep 0.05; done; "
                           "grep -c ' /data/sub ' /proc/mounts || true"}))
    argv.push_back(a);
  Result r = run(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
}

TEST_F(PodFeaturesTest, EmptyVolumeIsSharedBetweenAppsWithItsModeAndOwner) {
  Result r =
      crt({"run", "--volume=shared,kind=empty,mode=0750,uid=33,gid=33", "--mount=volume=shared,target=/shared",
           "busybox", "--name=writer", "--", "/bin/sh", "-c", "echo hi > /shared/.note; mv /shared/.note /shared/note",
           "---", "busybox", "--name=reader", "--", "/bin/sh", "-c",
           "until [ -e /shared/note ]; do sleep 0.05; done; cat /shared/note; stat -c '%a %u %g' /shared"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("reader: hi\n"));
  EXPECT_THAT(r.out, HasSubstr("reader: 750 33 33\n"));
}

TEST_F(PodFeaturesTest, TmpfsVolumeHasItsSize) {
  Result r = crt({"run", "--volume=t,kind=tmpfs,size=2Mi", "busybox", "--mount=volume=t,target=/t", "--", "/bin/sh",
                  "-c", "grep ' /t ' /proc/mounts"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tmpfs /t tmpfs"));
  EXPECT_THAT(r.out, HasSubstr("size=2048k"));
}

TEST_F(PodFeaturesTest, ImageVolumeGetsTheImagesContent) {
  std::string rootfs = busybox_rootfs();
  stdfs::create_directories(rootfs + "/var/lib/app");
  std::ofstream(rootfs + "/var/lib/app/seed") << "seeded\n";
  ASSERT_EQ(crt({"image", "import", rootfs, "withvol", "--volume=/var/lib/app"}).status, 0);
  Result r = crt({"run", "withvol", "--", "/bin/sh", "-c",
                  "cat /var/lib/app/seed; grep -c ' /var/lib/app ' /proc/mounts"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "seeded\n1\n");
}

TEST_F(PodFeaturesTest, VolumeTargetThroughASymlinkToEtcStaysInTheRootfs) {
  std::string rootfs = busybox_rootfs();
  stdfs::create_directories(rootfs + "/etc");
  stdfs::create_symlink("/etc", rootfs + "/evil");
  ASSERT_EQ(crt({"image", "import", rootfs, "evil"}).status, 0);
  std::string data = host_dir("data");
  std::string marker = "crt-volume-test-" + std::to_string(::getpid());
  Result r = crt({"run", "--volume=v,kind=host,source=" + data, "evil", "--mount=volume=v,target=/evil/" + marker,
                  "--", "/bin/sh", "-c", "echo ok > /evil/" + marker + "/f"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists("/etc/" + marker)) << "a host path was created";
  EXPECT_EQ(read_file(data + "/f"), "ok\n");
  // The mount point was made in the image's own /etc.
  EXPECT_TRUE(stdfs::is_directory(app_upper(pods("run").at(0), "evil") + "/etc/" + marker));
}

// A target the image's symlinks lead to the app's root, or to a place the
// pod mounts for every app, is refused as that place itself would be: the
// volume would be the app's root (the pod's mount points made in the
// host's directory) or hidden. An image's own volume there is no volume,
// and its root is not copied into one.
TEST_F(PodFeaturesTest, AVolumeTargetASymlinkLeadsToTheRootOrToThePodsMountsIsRefused) {
  std::string rootfs = busybox_rootfs();
  stdfs::create_symlink("/", rootfs + "/data");
  stdfs::create_symlink("/proc", rootfs + "/stats");
  ASSERT_EQ(crt({"image", "import", rootfs, "linkedroot"}).status, 0);
  std::string data = host_dir("data");
  Result r = crt({"run", "--net=none", "--volume=v,kind=host,source=" + data, "linkedroot",
                  "--mount=volume=v,target=/data", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'/data' is '/' in the image (a symlink leads there): target cannot be the app's "
                               "root directory"));
  r = crt({"run", "--net=none", "--volume=v,kind=host,source=" + data, "linkedroot", "--mount=volume=v,target=/stats/x",
           "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'/stats/x' is '/proc/x' in the image (a symlink leads there): the pod mounts "
                               "'/proc' for every app: a volume on '/proc/x' would be hidden"));
  EXPECT_TRUE(stdfs::is_empty(data)) << "nothing is made in the host's directory";
  EXPECT_TRUE(pods("run").empty());
  // The image's own volume on its root (through /data): not a copy of it all.
  ASSERT_EQ(crt({"image", "import", rootfs, "rootvolume", "--volume=/data"}).status, 0);
  r = crt({"run", "--net=none", "rootvolume", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'/data' is the image's root directory (a symlink leads there): it cannot be a volume"));
  EXPECT_TRUE(pods("run").empty());
  // One where the pod mounts its own is none: the image's file stays.
  ASSERT_EQ(crt({"image", "import", rootfs, "hostsvolume", "--volume=/etc/hosts", "--volume=/dev/shm"}).status, 0);
  r = crt(
      {"run", "--net=none", "hostsvolume", "--", "/bin/sh", "-c", "grep -c -E ' /(etc/hosts|dev/shm) ' /proc/mounts"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "2\n") << "only the pod's own /etc/hosts and /dev/shm";
}

TEST_F(PodFeaturesTest, ReadOnlyRootfsKeepsVolumesWritable) {
  Result r = crt({"run", "--volume=w,kind=empty", "busybox", "--readonly-rootfs", "--mount=volume=w,target=/w", "--",
                  "/bin/sh", "-c",
                  "touch /x 2>&1; touch /w/x && echo volume-ok; echo > /dev/null && echo dev-ok; "
                  "awk '$5 ~ \"^/(dev|dev/pts|dev/shm|proc|proc/sys|proc/bus|sys)$\" {print $5, substr($6, 1, 2)}' "
                  "/proc/self/mountinfo"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Read-only file system"));
  EXPECT_THAT(r.out, HasSubstr("volume-ok\n"));
  EXPECT_THAT(r.out, HasSubstr("dev-ok\n"));
  // What docker --read-only leaves writable is; the sandbox's read-only
  // paths stay so.
  for (const char* rw : {"/dev rw\n", "/dev/pts rw\n", "/dev/shm rw\n", "/proc rw\n"})
    EXPECT_THAT(r.out, HasSubstr(rw));
  for (const char* ro : {"/proc/sys ro\n", "/proc/bus ro\n", "/sys ro\n"}) EXPECT_THAT(r.out, HasSubstr(ro));
}

// The unit's ReadWritePaths= for the volume is resolved inside the app's
// root, as prepare-app resolves the target: through the image's absolute
// symlink, not stage1's.
TEST_F(PodFeaturesTest, ReadOnlyRootfsKeepsAVolumeWritableThroughTheImagesSymlink) {
  std::string rootfs = busybox_rootfs();
  stdfs::create_directories(rootfs + "/srv/data");
  stdfs::create_symlink("/srv/data", rootfs + "/data");
  ASSERT_EQ(crt({"image", "import", rootfs, "linkeddata"}).status, 0);
  std::string data = host_dir("data");
  Result r = crt({"run", "--volume=v,kind=host,source=" + data, "linkeddata", "--readonly-rootfs",
                  "--mount=volume=v,target=/data", "--", "/bin/sh", "-c", "touch /x 2>&1; echo ok > /data/f"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Read-only file system"));
  EXPECT_EQ(read_file(data + "/f"), "ok\n");
}

TEST_F(PodFeaturesTest, APodWhoseTmpfsVolumeCannotBeMountedLeavesNothing) {
  Result r = crt({"run", "--net=none", "--volume=v,kind=tmpfs", "busybox", "--mount=volume=v,target=/bin/busybox/x",
                  "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'/bin/busybox' exists and is not a directory"));
  EXPECT_THAT(r.err, Not(HasSubstr("leaving")));
  EXPECT_TRUE(pods("run").empty());
  EXPECT_TRUE(pods("exited-garbage").empty());
}

TEST_F(PodFeaturesTest, UnknownVolumeIsAnError) {
  Result r = crt({"run", "busybox", "--mount=volume=nope,target=/x", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("mounts volume 'nope', which no --volume defines"));
  r = crt({"run", "--volume=v,kind=bogus", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("kind must be host, empty or tmpfs"));
}

TEST_F(PodFeaturesTest, RestartOnFailureUntilTheAppSucceeds) {
  Result r = crt({"run", "busybox", "--restart=on-failure", "--", "/bin/sh", "-c",
                  "n=$(cat /count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /count; echo run $n; [ $n -ge 3 ]"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "run 1\nrun 2\nrun 3\n");
  r = crt({"status", pods("run").at(0)});
  EXPECT_THAT(r.out, HasSubstr("app-busybox=0\napp-busybox-restarts=2\n"));
}

// An app's restart restarts nothing else: an app of the pod that has ended
// is not run again.
TEST_F(PodFeaturesTest, ARestartRunsNoOtherAppAgain) {
  Result r = crt({"run", "--net=none", "busybox", "--name=once", "--", "/bin/echo", "ran once", "---", "busybox",
                  "--name=flaky", "--restart=on-failure", "--", "/bin/sh", "-c",
                  "sleep 0.5; if [ -e /tried ]; then echo ok; else touch /tried; echo fails; exit 1; fi"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "once: ran once\nflaky: fails\nflaky: ok\n");
}

TEST_F(PodFeaturesTest, RestartGivesUpAtTheStartLimit) {
  Result r = crt({"run", "--net=none", "busybox", "--restart=always", "--", "/bin/sh", "-c", "echo try; exit 3"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "try\ntry\ntry\ntry\ntry\n");
  EXPECT_THAT(r.err, HasSubstr("crt: app 'busybox' is not restarted any more (--restart=always): systemd's start "
                               "limit stopped its restarts: 5 starts within 10 s; its last run exited 3\n"));
  EXPECT_THAT(r.err, Not(HasSubstr("Failed to start"))) << "systemd's line beside crt's says no more";
  r = crt({"status", pods("run").at(0)});
  EXPECT_THAT(r.out, HasSubstr("app-busybox=3\napp-busybox-restarts=4\napp-busybox-result=start-limit-hit\n"))
      << "five runs";
}

// An app of --restart=always that ends well at once: systemd gives up on
// it at its start limit, and the pod did not keep it running as asked. crt
// says so, and it is no success (crt's own status: the last run's 0 would
// read as one); status and inspect say why it ended.
TEST_F(PodFeaturesTest, AnAppThatEndsWellAtOnceIsNoSuccessAtTheStartLimit) {
  Result r = crt({"run", "--net=none", "busybox", "--restart=always", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crt: app 'busybox' is not restarted any more (--restart=always): systemd's start "
                               "limit stopped its restarts: 5 starts within 10 s; its last run exited 0\n"));
  EXPECT_THAT(r.err, Not(HasSubstr("Failed to start"))) << "systemd's line beside crt's says no more";
  std::string uuid = pods("run").at(0);
  r = crt({"status", uuid});
  EXPECT_THAT(r.out, HasSubstr("app-busybox=254\napp-busybox-restarts=4\napp-busybox-result=start-limit-hit\n"));
  nlohmann::json j = nlohmann::json::parse(crt({"status", "--format=json", uuid}).out);
  EXPECT_EQ(j["app_results"]["busybox"], "start-limit-hit");
  EXPECT_THAT(crt({"inspect", uuid}).out,
              HasSubstr("\n  not running\n  ended:        exit status 254 (exited 0, start-limit-hit: systemd's start "
                        "limit stopped its restarts: 5 starts within 10 s)\n"));
}

TEST_F(PodFeaturesTest, StatusCountsRestartsOfARunningApp) {
  std::string file = dir_ + "/uuid";
  // Restarted once, then it runs: more restarts would soon reach systemd's
  // start limit, and the pod would end before the test stops it.
  // A steady app first: each app's count is its own (systemctl separates
  // the units' values with empty lines).
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--name=steady", "--restart=always", "--",
                      "/bin/sleep", "60", "---", "busybox", "--restart=always", "--", "/bin/sh", "-c",
                      "[ -e /again ] && exec sleep 60; touch /again; sleep 0.2"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  std::string restarts;
  for (int i = 0; i < 100 && restarts.empty(); ++i) {
    std::string out = crt({"status", uuid}).out;
    size_t at = out.find("app-busybox-restarts=");
    if (at != std::string::npos && out.compare(at + 21, 2, "0\n") != 0) restarts = out.substr(at);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(restarts.empty()) << "no restart was counted";
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-steady-restarts=0\n"));
  EXPECT_EQ(crt({"stop", uuid}).status, 0);
  p.wait();
}

TEST_F(PodFeaturesTest, NotifyAppHoldsThePodsReadinessUntilReady) {
  // notify-ready sleeps 6 s, then sends READY=1 through the socket systemd
  // gives a Type=notify service.
  BoundProgram bin = bound_program(NOTIFY_READY_BIN);
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, bin.volume, "busybox", "--notify", bin.mount,
                      "--", bin.path, "6"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
  Result early = crt({"status", "--wait-ready=1s", uuid});
  EXPECT_NE(early.status, 0) << "ready before the app said so: " << early.out;
  Result ready = crt({"status", "--wait-ready=30s", uuid});
  EXPECT_EQ(ready.status, 0) << ready.err;
  // The app says so after it has sent READY=1: its line may reach the
  // journal after the pod is ready.
  std::string logs;
  for (int i = 0; i < 100 && logs.find("sent READY=1") == std::string::npos; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    logs = crt({"logs", uuid}).out;
  }
  EXPECT_THAT(logs, HasSubstr("sent READY=1"));
  EXPECT_THAT(read_file(pod_dir(uuid) + "/overlay/stage1/upper/etc/systemd/system/busybox.service"),
              HasSubstr("Type=notify"));
  EXPECT_EQ(crt({"stop", uuid}).status, 0);
  p.wait();
}

TEST_F(PodFeaturesTest, ExitPolicies) {
  // on-all-exit: a failing app does not stop the others.
  auto start = std::chrono::steady_clock::now();
  Result r = crt({"run", "--exit-policy=on-all-exit", "busybox", "--name=fails", "--", "/bin/sh", "-c", "exit 2", "---",
                  "busybox", "--name=works", "--", "/bin/sh", "-c", "sleep 1; echo done"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_THAT(r.out, HasSubstr("works: done\n"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // on-any-exit: a successful exit stops the others.
  start = std::chrono::steady_clock::now();
  // quick ends once slow runs: a pod stopped before slow's start would have
  // no status of slow's.
  r = crt({"run", "--exit-policy=on-any-exit", "--volume=s,kind=empty", "--mount=volume=s,target=/s", "busybox",
           "--name=quick", "--", "/bin/sh", "-c", "until [ -e /s/up ]; do sleep 0.05; done", "---", "busybox",
           "--name=slow", "--", "/bin/sh", "-c", "touch /s/up; exec sleep 60"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  // slow was stopped by the pod: no failure of its own, though its record
  // says how it ended.
  EXPECT_EQ(r.status, 0) << r.err;
  std::string slow;
  for (const auto& uuid : pods("run"))
    if (std::filesystem::exists(pod_dir(uuid) + "/status/slow")) slow = read_file(pod_dir(uuid) + "/status/slow");
  EXPECT_THAT(slow, HasSubstr("\"status\":143"));
  EXPECT_THAT(slow, HasSubstr("\"stopped_by_pod\":true"));
  // The same for an app that systemd restarts: its end is recorded later
  // (its OnFailure= helper), and is still the pod's doing.
  r = crt({"run", "--net=none", "--exit-policy=on-any-exit", "--volume=s,kind=empty", "--mount=volume=s,target=/s",
           "busybox", "--name=quick", "--", "/bin/sh", "-c", "until [ -e /s/up ]; do sleep 0.05; done", "---",
           "busybox", "--name=kept", "--restart=always", "--", "/bin/sh", "-c", "touch /s/up; exec sleep 60"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::string kept;
  for (const auto& uuid : pods("run"))
    if (std::filesystem::exists(pod_dir(uuid) + "/status/kept")) kept = read_file(pod_dir(uuid) + "/status/kept");
  EXPECT_THAT(kept, HasSubstr("\"stopped_by_pod\":true"));
}

TEST_F(PodFeaturesTest, AppExitedRefusesToRunOnTheHost) {
  // app-exited signals PID 1 and may end its PID namespace with reboot():
  // started by hand on the host, it must do neither. Where the host's PID 1
  // is systemd, a helper without that check would power the host off.
  if (std::filesystem::exists("/run/systemd/system")) GTEST_SKIP() << "the host runs systemd";
  struct stat st {};
  ASSERT_EQ(::stat("/proc/self/ns/pid", &st), 0);
  if (st.st_ino != 0xEFFFFFFCU) GTEST_SKIP() << "the tests do not run in the host's PID namespace";
  std::string helper = (std::filesystem::path(crt_bin_).parent_path() / "app-exited").string();  // the build's
  Result r = run({helper, "--policy=on-any-failure", "--apps=web", "web"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("runs in a crt pod only"));
  r = run({helper, "--flush-output", "web"});
  EXPECT_EQ(r.status, 2) << r.err;
}

TEST_F(PodFeaturesTest, EnvironmentFilesAndInheritedEnvironment) {
  std::ofstream(dir_ + "/env") << "# a comment\n\nFROM_FILE=yes\nSHARED=file\n";
  // What a service manager tells crt run about crt run itself (a unit with
  // InheritEnvironment=yes) is not the app's.
  Result r = crt(
      {"run", "--set-env-file=" + dir_ + "/env", "--set-env=SHARED=flag", "--inherit-env", "busybox", "--", "/bin/sh",
       "-c", "echo $FROM_FILE $SHARED $CRT_TEST_INHERITED; env | grep -E '^(LISTEN_|INVOCATION_ID=0123|BASH_FUNC)'"},
      // Nor what is not UTF-8 (no manifest could hold it), or no NAME=VALUE.
      {.env = {"CRT_TEST_INHERITED=inherited", "INVOCATION_ID=0123", "LISTEN_FDS=1", "LISTEN_PID=1",
               "LISTEN_NOT_UTF8=\xff\xfe", "BASH_FUNC_f%%=() { true; }"},
       .timeout = std::chrono::seconds(60),
       .input = {},
       .new_session = false});
  ASSERT_EQ(r.status, 1) << r.err;  // grep found nothing
  EXPECT_EQ(r.out, "yes flag inherited\n");
}

// A --set-env-file that is a pipe (/dev/stdin, <(…)) gives its lines once:
// every app gets them all the same.
TEST_F(PodFeaturesTest, AnEnvironmentFileFromAPipeReachesEveryApp) {
  Result r = crt({"run", "--set-env-file=/dev/stdin", "busybox", "--name=one", "--", "/bin/sh", "-c", "echo one $A$B",
                  "---", "busybox", "--name=two", "--", "/bin/sh", "-c", "sleep 0.2; echo two $A$B"},
                 {.env = {}, .timeout = std::chrono::seconds(60), .input = "A=1\nB=2\n", .new_session = false});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("one 12\n"));
  EXPECT_THAT(r.out, HasSubstr("two 12\n"));
}

TEST_F(PodFeaturesTest, ResourceSettingsReachTheKernel) {
  Result r = crt({"run", "busybox", "--oom-score-adj=321", "--supplementary-gids=5,100", "--pids-limit=42",
                  "--cpu-shares=512", "--", "/bin/sh", "-c",
                  "cat /proc/self/oom_score_adj; id -G; grep -E '^Groups' /proc/self/status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("321\n"));
  EXPECT_THAT(r.out, HasSubstr("0 5 100\n"));
  // Lowering the score needs CAP_SYS_RESOURCE in the pod's systemd, not in
  // the app.
  r = crt({"run", "--net=none", "busybox", "--oom-score-adj=-500", "--", "/bin/sh", "-c",
           "cat /proc/self/oom_score_adj; grep CapBnd /proc/self/status"});
  if (::prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1) {
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "-500\nCapBnd:\t00000000a80425fb\n");
  } else {
    // A machine that withholds CAP_SYS_RESOURCE even from root: a clear
    // error rather than an app silently run at 0.
    EXPECT_EQ(r.status, 254);
    EXPECT_THAT(r.err, HasSubstr("needs CAP_SYS_RESOURCE"));
    EXPECT_TRUE(pods("run").size() == 1) << "the failed pod left a directory";
  }
  if (!host_has_controller("pids") || !host_has_controller("cpu"))
    GTEST_SKIP() << "this host's cgroups have no pids or cpu controller to limit an app with";
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--pids-limit=42", "--cpu-shares=512", "--",
                      "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  pid_t pid = -1;
  for (int i = 0; i < 500 && pid < 0; ++i) {
    pid = wait_app_pid(uuid, "busybox");
    if (pid > 0 && read_file("/proc/" + std::to_string(pid) + "/comm") != "sleep\n") pid = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(pid, 0);
  std::string cgroups = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  auto path_of = [&](const std::string& ctrl) {
    std::istringstream in(cgroups);
    for (std::string l; std::getline(in, l);) {
      size_t a = l.find(':'), b = l.find(':', a + 1);
      std::string c = "," + l.substr(a + 1, b - a - 1) + ",";
      if (c.find("," + ctrl + ",") != std::string::npos || (ctrl.empty() && c == ",,")) return l.substr(b + 1);
    }
    return std::string();
  };
  // As the mounted hierarchies say: /proc/PID/cgroup also lists the v1
  // ones on a cgroup-v2-only host booted on a hybrid machine.
  if (!cgroup::detect_layout().unified()) {
    EXPECT_EQ(read_file("/sys/fs/cgroup/pids" + path_of("pids") + "/pids.max"), "42\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/cpu" + path_of("cpu") + "/cpu.shares"), "512\n");
  } else {
    EXPECT_EQ(read_file("/sys/fs/cgroup" + path_of("") + "/pids.max"), "42\n");
  }
  p.signal(SIGTERM);
  p.wait();
}

}  // namespace
}  // namespace crt::test
