// The network of a pod whose directory was deleted by hand (after its crt
// and the pod were killed), or whose whole state directory was: crt gc of
// the state directory that owns it tears it down, and only that one (or
// any, once the owner is gone); the records crt keeps of which state
// directory owns each pod network (/run/crt/networks) say which.

#include <sys/mount.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "../support/registry.hpp"
#include "cgroup/cgroup.hpp"
#include "common/strings.hpp"
#include "net/network_record.hpp"
#include "network_fixture.hpp"

namespace crt::test {
namespace {

namespace stdfs = std::filesystem;
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
  stdfs::create_directories(config_dir() + "/net.d");
  std::string plugin = config_dir() + "/net.d/refuse";
  std::ofstream(plugin) << "#!/bin/sh\ncat >/dev/null\ncase \"$CNI_COMMAND\" in\n"
                           "ADD) echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}' ;;\n"
                           "DEL) echo '{\"code\":11,\"msg\":\"not now\"}'; exit 1 ;;\nesac\n";
  stdfs::permissions(plugin, stdfs::perms::owner_all);
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

}  // namespace
}  // namespace crt::test
