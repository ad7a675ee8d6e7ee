// The network of a pod whose directory was deleted by hand (after its crt
// and the pod were killed), or whose whole state directory was: crt gc of
// the state directory that owns it tears it down, and only that one (or
// any, once the owner is gone); the records crt keeps of which state
// directory owns each pod network (/run/crt/networks) say which. The pod's
// own teardown and gc's never run at once, and records a teardown or a
// killed crt left go with gc.

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include "../support/notify_socket.hpp"
#include "../support/registry.hpp"
#include "cgroup/cgroup.hpp"
#include "common/lock.hpp"
#include "common/strings.hpp"
#include "net/network_record.hpp"
#include "network_fixture.hpp"

namespace crt::test {
namespace {

namespace stdfs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class OrphanedNetworkTest : public NetworkTest {
 protected:
  /// Starts a pod forwarding a host port in state directory `state_dir` (on
  /// networks `net`),
  /// kills its crt and watch, stops the pod: its network stays up. Returns
  /// its UUID; "" on failure.
  std::string run_and_kill(const std::string& state_dir, const std::string& net = "default") {
    std::string file = dir_ + "/uuid-" + std::to_string(++pods_);
    Process p({crt_bin_, "--dir=" + state_dir, "--local-config=" + config_dir(), "run", "--uuid-file-save=" + file,
               "--net=" + net, "--port=" + std::to_string(free_port()) + ":80", "busybox", "--", "/bin/sleep", "60"},
              {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    std::string uuid = wait_uuid(file);
    auto in_dir = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {crt_bin_, "--dir=" + state_dir});
      return run(args);
    };
    if (uuid.empty() || in_dir({"status", "--wait-ready=30s", uuid}).status != 0) return "";
    kill_crt_and_its_watch(p);
    if (in_dir({"stop", uuid}).status != 0) return "";
    return in_dir({"status", "--wait=20s", uuid}).status == 0 ? uuid : "";
  }

  /// What a user deleting the pod's directory by hand does: its mounts go
  /// first (as umount -R), then the directory; its cgroup goes too (none of
  /// gc's business once the directory is gone).
  static void delete_by_hand(const std::string& state_dir, const std::string& uuid) {
    std::string pod = state_dir + "/pods/run/" + uuid;
    ASSERT_TRUE(stdfs::exists(pod));
    std::vector<std::string> mounts;
    std::istringstream info(read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(info, line);) {
      std::istringstream fields(line);
      std::string id, parent, dev, root, target;
      fields >> id >> parent >> dev >> root >> target;
      if (target == pod || target.rfind(pod + "/", 0) == 0) mounts.push_back(target);
    }
    std::sort(mounts.rbegin(), mounts.rend());  // deepest first
    for (const auto& m : mounts) ::umount2(m.c_str(), MNT_DETACH);
    stdfs::remove_all(pod);
    for (const auto& d : pod_cgroup_dirs(uuid))
      if (stdfs::exists(d))
        cgroup::PodCgroup(cgroup::detect_layout(), cgroup::PodCgroup::relative_path("crt-" + uuid)).remove();
  }

  /// How many firewall rules (iptables-save, comments and all), network
  /// namespaces and leases of network "default" name the pod:
  /// "rules=N netns=N leases=N".
  static std::string traces_of(const std::string& uuid) {
    std::string id = "crt-" + uuid;
    return trim_end(run({"/bin/sh", "-c",
                         "echo rules=$({ iptables-save; ip6tables-save; } 2>/dev/null | grep -c -- " + id +
                             ") netns=$(ls /run/netns | grep -c -- " + id + ") leases=$(grep -rl -- " + id + " " +
                             kIpamDir + "/default | wc -l)"})
                        .out,
                    "\n");
  }
  static constexpr const char* kNone = "rules=0 netns=0 leases=0";

  Result gc(const std::string& state_dir) {
    return run({crt_bin_, "--dir=" + state_dir, "--local-config=" + config_dir(), "gc", "--grace-period=0s"});
  }

  /// As when the pod's state directory was moved away (or deleted while
  /// the pod ran on): its record names one that is not there.
  void disown(const std::string& uuid) const {
    std::ofstream(net::network_record_dir(uuid) / "owner", std::ios::trunc) << dir_ << "/moved-away\n";
  }

  /// Whether a process waits for the lock of `path` (a line "N: -> FLOCK
  /// … MAJ:MIN:INODE …" of /proc/locks).
  static bool lock_awaited(const stdfs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    std::istringstream locks(read_file("/proc/locks"));
    std::string inode = ":" + std::to_string(st.st_ino) + " ";
    for (std::string line; std::getline(locks, line);)
      if (line.find(" -> ") != std::string::npos && line.find(inode) != std::string::npos) return true;
    return false;
  }

  /// Whether `done` turns true within 30 s.
  static bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 300; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  }

  /// The lock of pod `uuid`'s network record, taken as a crt gc tearing
  /// the network down takes it, once its crt run has made the record;
  /// empty if it does not within 30 s.
  static FileLock hold_record(const std::string& uuid) {
    stdfs::path record = net::network_record_dir(uuid);
    FileLock held;
    eventually([&] {
      if (stdfs::is_directory(record)) held = FileLock::try_acquire(record, FileLock::Mode::kExclusive);
      return held.valid();
    });
    return held;
  }

  int pods_ = 0;
};

// A pod directory deleted by hand: gc of another state directory (another
// test's, in CI) leaves the pod's network alone, gc of its own state
// directory tears it down, and says so.
TEST_F(OrphanedNetworkTest, AHandDeletedPodsNetworkGoesWithItsOwnStateDirectorysGcAlone) {
  check_cgroups_ = false;  // the test removes the pod's
  std::string uuid = run_and_kill(dir_);
  ASSERT_FALSE(uuid.empty());
  std::string traces = traces_of(uuid);
  EXPECT_THAT(traces, ::testing::MatchesRegex("rules=[1-9][0-9]* netns=1 leases=1"));
  EXPECT_TRUE(stdfs::exists(net::network_record_dir(uuid)));
  delete_by_hand(dir_, uuid);
  std::string other = dir_ + "/other";
  stdfs::create_directories(other);
  Result r = gc(other);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(uuid)));
  EXPECT_EQ(traces_of(uuid), traces);
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tore down the network of " + uuid + ", whose pod directory is gone\n"));
  EXPECT_EQ(traces_of(uuid), kNone);
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(uuid)));
  // Once: the next gc finds nothing.
  r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(uuid)));
}

// A state directory deleted as a whole: no gc of its own will come, so the
// gc of any state directory tears its pods' networks down.
TEST_F(OrphanedNetworkTest, ThePodNetworksOfAStateDirectoryDeletedAsAWholeGoWithAnyGc) {
  check_cgroups_ = false;
  std::string gone = dir_ + "/gone";
  stdfs::create_directories(gone);
  std::string uuid = run_and_kill(gone);
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(traces_of(uuid), ::testing::MatchesRegex("rules=[1-9][0-9]* netns=1 leases=1"));
  delete_by_hand(gone, uuid);
  stdfs::remove_all(gone);
  Result r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  // The gc of a test running beside this one may be the one that does it.
  if (r.out.find("tore down the network of " + uuid + ", whose pod directory is gone\n") == std::string::npos)
    for (int i = 0; i < 300 && stdfs::exists(net::network_record_dir(uuid)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(traces_of(uuid), kNone);
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(uuid)));
}

// A network whose plugin now fails for good (uninstalled) would keep the
// rest of the pod's network, and fail every gc, for ever: no crt rm can
// come for a pod that is gone. Its DEL's failure is a warning, as with crt
// rm --force, and the rest goes.
TEST_F(OrphanedNetworkTest, APluginThatFailsForGoodKeepsNothingOfAnOrphanedNetwork) {
  check_cgroups_ = false;
  write_test_plugin("refuse", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'",
                    "echo '{\"code\":11,\"msg\":\"not now\"}'; exit 1");
  write_network("40-refuse.conf", R"({"cniVersion":"1.0.0","name":"refuse","type":"refuse"})");
  std::string uuid = run_and_kill(dir_, "default,refuse");
  ASSERT_FALSE(uuid.empty());
  delete_by_hand(dir_, uuid);
  Result r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tore down the network of " + uuid + ", whose pod directory is gone\n"));
  EXPECT_THAT(r.err, HasSubstr("warning: pod " + uuid +
                               ": tearing down network 'refuse': plugin 'refuse' failed: "
                               "not now (code 11)"));
  EXPECT_EQ(traces_of(uuid), kNone);
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(uuid)));
}

// A pod that runs on is no orphan, whatever its record says: gc leaves the
// network its processes are in.
TEST_F(OrphanedNetworkTest, ARunningPodsNetworkStaysWhateverItsRecordSays) {
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {}, "orphan-runs");
  ASSERT_FALSE(uuid.empty());
  // As if its state directory were gone: the record names one that is not.
  std::ofstream(net::network_record_dir(uuid) / "owner") << dir_ << "/no-such-state\n";
  Result r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(uuid)));
  EXPECT_TRUE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_THAT(http_get(pod_ip(uuid), 80), HasSubstr("hello from orphan-runs"));
  stop(p);
  EXPECT_FALSE(stdfs::exists("/run/netns/crt-" + uuid));
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(uuid)));
}

// A pod whose state directory moved away while it ran (its crt and watch
// killed): crt gc of any state directory takes its network for an
// orphan's, and crt rm of the pod, under the directory's new name, tears it
// down too. They take turns, each holding the network's record: here crt
// rm, come while gc's DEL of network "hold" waits, waits for the record
// (or, were it not to, runs a DEL of its own beside gc's).
TEST_F(OrphanedNetworkTest, APodsOwnTeardownWaitsForGcTearingItsNetworkDownAsAnOrphans) {
  check_cgroups_ = false;
  write_hold_network();
  std::string uuid = run_and_kill(dir_, "default,hold");
  ASSERT_FALSE(uuid.empty());
  disown(uuid);
  std::string other = dir_ + "/other";
  stdfs::create_directories(other);
  RunOptions meanwhile{.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = false};
  Process sweep({crt_bin_, "--dir=" + other, "--local-config=" + config_dir(), "gc", "--grace-period=0s"}, meanwhile);
  EXPECT_TRUE(eventually([&] { return hold_dels() == 1; }));
  Process own({crt_bin_, "--dir=" + dir_, "rm", uuid}, meanwhile);
  EXPECT_TRUE(eventually([&] { return hold_dels() > 1 || lock_awaited(net::network_record_dir(uuid)); }));
  let_hold_go();
  Result g = sweep.wait();
  Result rm = own.wait();
  EXPECT_THAT(hold_log(), Not(HasSubstr("OVERLAP")));
  EXPECT_EQ(g.status, 0) << g.err;
  EXPECT_THAT(g.out, HasSubstr("tore down the network of " + uuid + ", whose pod directory is gone\n"));
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(traces_of(uuid), kNone);
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(uuid)));
}

/// Now by the kernel's clock, as NotifySocket::arrivals() stamps messages.
double realtime_now() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Under a unit ($NOTIFY_SOCKET), crt run's own teardown of its network,
// come while crt gc tears it down as an orphan's, asks systemd again every
// 10 s to wait for it as long as a program of its own would (each here
// 5 s, 6 s to be killed, and 9 s of cleanup after): it would otherwise be
// killed 45 s into the wait, its cleanup undone. Here the test holds the
// record's lock, as gc does, for 11 s after the first renewal; crt run
// then ends as the pod did.
TEST_F(OrphanedNetworkTest, UnderAUnitAPodsTeardownWaitingForGcRenewsTheUnitsWait) {
  NotifySocket notify(dir_ + "/notify");
  std::string file = dir_ + "/uuid";
  Process run_pod(crt_argv(with_config({"run", "--plugin-time-limit=5s", "--uuid-file-save=" + file, "busybox", "--",
                                        "/bin/sleep", "2"})),
                  {.env = {notify.env()}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = false});
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  stdfs::path record = net::network_record_dir(uuid);
  FileLock sweep = hold_record(uuid);
  EXPECT_TRUE(sweep.valid());
  const std::string renewal = "EXTEND_TIMEOUT_USEC=20000000";
  bool renewed = eventually([&] { return !notify.arrivals(renewal).empty(); });
  EXPECT_TRUE(renewed) << "no renewal while the teardown waits";
  if (renewed) std::this_thread::sleep_for(std::chrono::seconds(11));
  double released = realtime_now();
  sweep = FileLock();
  Result r = run_pod.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  // Those of the teardown's own programs, once the lock is free, ask the same.
  std::vector<double> at = notify.arrivals(renewal);
  EXPECT_THAT(at, ::testing::Each(::testing::Ge(0))) << "not stamped";
  at.erase(std::remove_if(at.begin(), at.end(), [released](double t) { return t >= released; }), at.end());
  ASSERT_GE(at.size(), 2U);
  EXPECT_GE(at.back() - at.front(), 9.5) << "none 10 s after the first";
  EXPECT_FALSE(stdfs::exists(record));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// But no longer than gc's teardown may take, each of its programs given as
// long as crt run's (--plugin-time-limit) and its kill: a crt gc whose
// plugin hung (or told of no limit) would keep crt run, and a unit's stop,
// for ever. Here, network "hold" alone (a DEL and four iptables runs after,
// 1 s each and 6 s to be killed, 5 s for the rest: 40 s), the test holds
// the record as gc would, for good: crt run gives up 40 s on, says the
// network is left to crt gc, runs no DEL of its own beside gc's, and ends
// as its pod did; renewals stop with it (a last one for its cleanup).
TEST_F(OrphanedNetworkTest, APodsTeardownWaitsForGcNoLongerThanGcsTeardownMayTake) {
  write_hold_network();
  NotifySocket notify(dir_ + "/notify");
  std::string file = dir_ + "/uuid";
  Process run_pod(crt_argv(with_config({"run", "--net=hold", "--plugin-time-limit=1s", "--uuid-file-save=" + file,
                                        "busybox", "--", "/bin/sleep", "2"})),
                  {.env = {notify.env()}, .timeout = std::chrono::seconds(90), .input = {}, .new_session = false});
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  stdfs::path record = net::network_record_dir(uuid);
  FileLock sweep = hold_record(uuid);
  EXPECT_TRUE(sweep.valid());
  double held = realtime_now();
  Result r = run_pod.wait();
  double ended = realtime_now();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("still held the record of the pod's network after 40 s, as long as its teardown may "
                               "take with 1 s for each program (--plugin-time-limit); 'crt gc' will try again"));
  EXPECT_GE(ended - held, 38.0) << "did not wait for gc";
  EXPECT_LT(ended - held, 55.0);
  EXPECT_EQ(hold_dels(), 0U) << "a DEL beside gc's";
  std::vector<double> renewals = notify.arrivals("EXTEND_TIMEOUT_USEC=16000000");
  EXPECT_GE(renewals.size(), 3U);
  EXPECT_LE(renewals.size(), 5U);
  EXPECT_THAT(notify.texts(), Contains("EXTEND_TIMEOUT_USEC=9000000")) << "none for the cleanup after";
  EXPECT_TRUE(stdfs::exists(record));
  sweep = FileLock();
  let_hold_go();
  Result rm = crt({"rm", uuid});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(hold_dels(), 1U);
  EXPECT_FALSE(stdfs::exists(record));
}

// And the other way round: crt gc passes over the network of a pod its own
// crt rm is tearing down (in the DEL of network "hold"), though it looks
// orphaned (its owner moved away) and no process holds its namespace (gone:
// deleted by hand).
TEST_F(OrphanedNetworkTest, GcPassesOverANetworkItsPodsOwnTeardownHolds) {
  check_cgroups_ = false;
  write_hold_network();
  std::string uuid = run_and_kill(dir_, "default,hold");
  ASSERT_FALSE(uuid.empty());
  ASSERT_EQ(run({"ip", "netns", "delete", "crt-" + uuid}).status, 0);
  disown(uuid);
  std::string other = dir_ + "/other";
  stdfs::create_directories(other);
  Process own({crt_bin_, "--dir=" + dir_, "rm", uuid},
              {.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = false});
  EXPECT_TRUE(eventually([&] { return hold_dels() == 1; }));
  Result g = run({crt_bin_, "--dir=" + other, "--local-config=" + config_dir(), "gc", "--grace-period=0s",
                  "--plugin-time-limit=2s"});
  let_hold_go();
  Result rm = own.wait();
  EXPECT_THAT(hold_log(), Not(HasSubstr("OVERLAP")));
  EXPECT_EQ(g.status, 0) << g.err;
  EXPECT_THAT(g.out, Not(HasSubstr(uuid)));
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(traces_of(uuid), kNone);
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(uuid)));
}

// A teardown that could not remove its network's record (here a mount in
// it: gc's teardown of a pod whose crt was killed) leaves it, and the pod's
// net.json says the network is torn down: crt gc removes the record later,
// tearing nothing down again, though the record does not say so (as an
// older crt left it) and the pod is kept.
TEST_F(OrphanedNetworkTest, ARecordATeardownLeftGoesWithGcWithoutASecondTeardown) {
  check_cgroups_ = false;
  write_test_plugin("count", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'", ":");
  write_network("40-count.conf", R"({"cniVersion":"1.0.0","name":"count","type":"count"})");
  std::string uuid = run_and_kill(dir_, "default,count");
  ASSERT_FALSE(uuid.empty());
  stdfs::path record = net::network_record_dir(uuid);
  std::string owner = read_file(record / "owner"), as_running = read_file(record / "net.json");
  UnremovableDir unremovable(record);
  ASSERT_EQ(unremovable.error(), "");
  Result r = run({crt_bin_, "--dir=" + dir_, "gc"});  // the pod is kept for the grace period
  EXPECT_THAT(r.out, HasSubstr("tore down the network of " + uuid + "\n"));
  ASSERT_EQ(unremovable.unmount(), "");
  ASSERT_TRUE(stdfs::exists(record));
  // What the failed removal left of it (in no set order), put back.
  std::ofstream(record / "owner", std::ios::trunc) << owner;
  std::ofstream(record / "net.json", std::ios::trunc) << as_running;
  r = run({crt_bin_, "--dir=" + dir_, "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists(record));
  EXPECT_TRUE(stdfs::exists(dir_ + "/pods/exited-garbage/" + uuid));
  r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(config_dir() + "/net.d/count.log"), "ADD\nDEL\n");
}

// A crt killed while it made a record leaves the directory it made aside
// (/run/crt/networks/.UUID.XXXXXX): crt gc removes it once no crt has
// written to it for a minute and none holds it, and never one that a crt
// makes now.
TEST_F(OrphanedNetworkTest, GcRemovesWhatACrtKilledWhileMakingARecordLeft) {
  stdfs::create_directories(net::kNetworkRecordsDir);
  auto made_aside = [this](const std::string& n, bool minutes_ago) {
    std::string d = std::string(net::kNetworkRecordsDir) + "/.00000000-0000-4000-8000-0000000000c" + n + ".aside" + n;
    stdfs::create_directories(d);
    std::ofstream(d + "/owner") << dir_ << "\n";
    timespec then[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
    if (minutes_ago) ::utimensat(AT_FDCWD, d.c_str(), then, 0);
    return d;
  };
  std::string left = made_aside("1", true), now = made_aside("2", false), held = made_aside("3", true);
  Undo removal([&] {
    for (const auto& d : {left, now, held}) stdfs::remove_all(d);
  });
  FileLock making = FileLock::try_acquire(held, FileLock::Mode::kExclusive);
  ASSERT_TRUE(making.valid());
  Result r = gc(dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists(left));
  EXPECT_TRUE(stdfs::exists(now));
  EXPECT_TRUE(stdfs::exists(held));
}

}  // namespace
}  // namespace crt::test
