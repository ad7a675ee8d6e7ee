// What a pod whose crt died leaves of its network, and who tears it down:
// crt's watch once the pod has ended, else crt gc from the pod's directory
// (a damaged net.json too); and the leases of pods that are gone, released
// when a network runs out of addresses, never those of pods that are not,
// nor those whose network another crt is tearing down.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/fd.hpp"
#include "common/json_text.hpp"
#include "common/lock.hpp"
#include "common/strings.hpp"
#include "net/network_record.hpp"
#include "net/pod_network.hpp"
#include "net/state.hpp"
#include "network_fixture.hpp"

namespace crt::test {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> sorted_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  std::sort(v.begin(), v.end());
  return v;
}

// A pod whose crt was killed is stopped by crt's watch, which then tears
// its network down as crt would have: its host port, held until then,
// forwards nothing to a pod that is gone, and is free for the host's
// services. Until then the pod reads as running.
TEST_F(NetworkTest, AKilledCrtsPodHasItsNetworkTornDownOnceItHasEnded) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--port=" + std::to_string(port) + ":80"}, "killed");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from killed"));
  p->signal(SIGKILL);
  p->wait();
  ASSERT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  std::string id = "crt-" + uuid;
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
  auto st = net::read_state(dir_ + "/pods/run/" + uuid);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->torn_down);
  EXPECT_FALSE(crt::json_text::parse(crt({"inspect", "--format=json", uuid}).out)["network"].contains("namespace"));
  // A host service may take the port, and gets its traffic.
  EXPECT_TRUE(listen_on_host(AF_INET, port, true).valid()) << std::strerror(errno);
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("tore down the network of " + uuid)));  // another test's gc may tear down its own
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

// crt and its watch killed both (a crash, say): the pod runs on, and its
// network stays once it has stopped, for crt gc to tear down.
TEST_F(NetworkTest, KilledCrtLeavesWhatGcTearsDownFromThePodDirectory) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  int port = free_port();
  std::unique_ptr<Process> p;
  std::string uuid = start_server(p, {"--port=" + std::to_string(port) + ":80"}, "killed");
  ASSERT_FALSE(uuid.empty());
  EXPECT_THAT(http_get("127.0.0.1", port), HasSubstr("hello from killed"));
  kill_crt_and_its_watch(*p);
  ASSERT_EQ(crt({"stop", uuid}).status, 0);
  ASSERT_EQ(crt({"status", "--wait=20s", uuid}).status, 0);
  // Namespace, lease and rules are all still there…
  NetSnapshot left = NetSnapshot::take();
  std::string id = "crt-" + uuid;
  auto has = [&](const std::vector<std::string>& v, const std::string& s) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& l) { return l.find(s) != std::string::npos; });
  };
  EXPECT_TRUE(has(left.netns, id));
  EXPECT_TRUE(has(left.leases, id));
  EXPECT_TRUE(has(left.rules, id));
  EXPECT_TRUE(has(left.rules, "--dport " + std::to_string(port)));
  // …until crt gc tears them down from the pod directory alone, at once,
  // while the pod itself stays for the grace period.
  Result r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tore down the network of " + uuid + "\n"));
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
  EXPECT_EQ(http_get("127.0.0.1", port, milliseconds(300)), "");
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("networks=default:ip4="));
  // Once is enough: again, and crt rm, find nothing more to do.
  std::string exited = dir_ + "/pods/exited-garbage/" + uuid;
  EXPECT_NO_THROW(net::teardown_pod_network(exited));
  r = crt({"gc"});
  EXPECT_THAT(r.out, Not(HasSubstr("tore down the network of " + uuid)));  // another test's gc may tear down its own
  r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
}

// net.json is written cached: a crash may leave it empty. Its pod is still
// collected, and what the pod's UUID names goes with it.
TEST_F(NetworkTest, AKilledPodWhoseNetworkFileIsDamagedIsStillCollected) {
  check_cgroups_ = false;  // crt gc's part, and the test's
  std::string uuid =
      run_and_kill_crt({"--port=" + std::to_string(free_port()) + ":80", "busybox", "--", "/bin/sleep", "60"});
  ASSERT_FALSE(uuid.empty());
  std::string id = "crt-" + uuid;
  ASSERT_EQ(pods("run"), std::vector<std::string>{uuid});
  { std::ofstream(dir_ + "/pods/run/" + uuid + "/net.json", std::ios::trunc); }
  // crt inspect shows the rest of the pod, and says what it could not read.
  Result r = crt({"inspect", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nnetwork: its own\n  (not read: "));
  EXPECT_THAT(r.out, HasSubstr("\napp busybox"));
  r = crt({"inspect", "--format=json", uuid});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(crt::json_text::parse(r.out)["network"].value("error", ""), HasSubstr("net.json"));
  r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("net.json"));
  EXPECT_THAT(r.err, HasSubstr("removing the namespace and firewall rules of '" + id + "' by name"));
  // Only its address lease stays (a network short of addresses reclaims
  // it); the test drops it, for the host's network to be as it was.
  NetSnapshot after = NetSnapshot::take();
  for (const auto& l : after.mentioning(id)) {
    EXPECT_THAT(after.leases, ::testing::Contains(l)) << "not a lease: " << l;
    if (std::find(after.leases.begin(), after.leases.end(), l) != after.leases.end())
      stdfs::remove(l.substr(0, l.find(": ")));
  }
  r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(pods("exited-garbage").empty());
}

TEST_F(NetworkTest, LeasesOfPodsThatAreGoneDoNotExhaustTheSubnet) {
  // A /29: host-local hands out .2 to .6.
  write_ptp_network("tiny", "172.30.252.0/29");
  std::unique_ptr<Process> live;
  std::string uuid = start_server(live, {"--net=tiny"}, "live");
  ASSERT_FALSE(uuid.empty());
  std::string live_ip = pod_ip(uuid, "tiny");
  // Leases of pods that a reboot took away fill the rest of the subnet.
  std::string leases = ipam_dir() + "/tiny";
  fill_subnet_with_dead_leases("tiny", "172.30.252.", live_ip);
  // One of them still forwards a host port as portmap does it (a tagged
  // jump to a chain of untagged DNAT rules).
  std::string dead = live_ip == "172.30.252.3" ? "4" : "3";
  std::string tag = "dnat name: \"tiny\" id: \"crt-00000000-0000-4000-8000-00000000000" + dead + "\"";
  ASSERT_EQ(run({"iptables", "-t", "nat", "-N", "CNI-DN-crttest"}).status, 0);
  run({"iptables", "-t", "nat", "-A", "CNI-DN-crttest", "-p", "tcp", "--dport", "18099", "-j", "DNAT",
       "--to-destination", "172.30.252." + dead + ":80"});
  run({"iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "comment", "--comment", tag, "-j",
       "CNI-DN-crttest"});
  Result r = crt(with_config({"run", "--net=tiny", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  // The dead ones are released, the live pod keeps its address.
  EXPECT_EQ(test::run({"grep", "-rl", "crt-00000000", leases}).out, "");
  EXPECT_EQ(read_file(leases + "/" + live_ip).substr(0, 40), "crt-" + uuid);
  // The dead pod's forward went with its lease: its address may be a new pod's.
  EXPECT_THAT(NetSnapshot::take().mentioning("crttest"), ::testing::IsEmpty());
  if (HasFailure()) {
    run({"iptables", "-t", "nat", "-D", "OUTPUT", "-p", "tcp", "-m", "comment", "--comment", tag, "-j",
         "CNI-DN-crttest"});
    run({"iptables", "-t", "nat", "-F", "CNI-DN-crttest"});
    run({"iptables", "-t", "nat", "-X", "CNI-DN-crttest"});
  }
  stop(live);
}

// A pod of crt's state directory whose lease is released for want of
// addresses is left as its teardown would leave it: its namespace gone, its
// net.json saying so, nothing for a gc to do.
TEST_F(NetworkTest, APodWhoseLeaseIsReleasedIsLeftTornDown) {
  check_cgroups_ = false;                        // crt gc's part, and the test's
  write_ptp_network("tiny", "172.30.240.0/29");  // .2 to .6
  std::string dead = run_and_kill_crt({"--net=tiny", "busybox", "--", "/bin/sleep", "60"});
  ASSERT_FALSE(dead.empty());
  std::string id = "crt-" + dead;
  ASSERT_TRUE(stdfs::exists("/run/netns/" + id));
  fill_subnet_with_dead_leases("tiny", "172.30.240.", pod_ip(dead, "tiny"));
  Result r = crt(with_config({"run", "--net=tiny", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists("/run/netns/" + id));
  auto st = net::read_state(pod_dir(dead));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->torn_down);
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
  r = crt({"gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("tore down the network of " + dead)));  // another test's gc may tear down its own
  EXPECT_EQ(crt({"rm", dead}).status, 0);
}

// The record of that pod's network goes too; one that will not (here a
// mount in it) is another pod's, no reason for this pod's start to fail: a
// warning says so, and the record goes with the pod later, as its network
// is torn down already.
TEST_F(NetworkTest, ARecordThatWillNotGoFailsNoOtherPodsStart) {
  check_cgroups_ = false;                        // crt gc's part, and the test's
  write_ptp_network("lone", "172.30.239.0/30");  // .2 alone
  std::string dead = run_and_kill_crt({"--net=lone", "busybox", "--", "/bin/sleep", "60"});
  ASSERT_FALSE(dead.empty());
  UnremovableDir record(net::network_record_dir(dead));
  ASSERT_EQ(record.error(), "");
  Result r = crt(with_config({"run", "--net=lone", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("warning: removing the record of pod " + dead + "'s network: "));
  auto st = net::read_state(pod_dir(dead));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->torn_down);
  ASSERT_EQ(record.unmount(), "");
  r = crt({"rm", dead});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists(net::network_record_dir(dead)));
}

// A namespace that a process holds open through its /run/netns path (its
// fd reads as that path, not as "net:[…]") is in use all the same: the
// lease of its pod is not released when the subnet runs out.
TEST_F(NetworkTest, ALeaseOfANamespaceHeldOpenByItsPathIsNotReleased) {
  const std::string held = "crt-00000000-0000-4000-8000-0000000000a1";
  ASSERT_EQ(run({"ip", "netns", "add", held}).status, 0);
  Undo removal([&held] { run({"ip", "netns", "delete", held}); });
  UniqueFd fd(::open(("/run/netns/" + held).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(lease_holder_after_a_start_on_a_full_subnet("172.30.243.", held), held);
}

// A pod of crt's state directory whose lock is held (by the crt starting it
// again, say, with a namespace not made yet, or by one removing it) is not
// gone: its lease is not released when the subnet runs out, nor its rules.
TEST_F(NetworkTest, ALeaseOfAPodWhoseDirectoryIsLockedIsNotReleased) {
  const std::string uuid = "00000000-0000-4000-8000-0000000000b1";
  std::string pod = dir_ + "/pods/prepared/" + uuid;
  stdfs::create_directories(pod);
  Undo removal([&pod] { stdfs::remove_all(pod); });
  FileLock lock = FileLock::try_acquire(pod, FileLock::Mode::kExclusive);
  ASSERT_TRUE(lock.valid());
  EXPECT_EQ(lease_holder_after_a_start_on_a_full_subnet("172.30.241.", "crt-" + uuid), "crt-" + uuid);
}

// A pod network whose record is locked is being torn down by whoever holds
// it (crt gc, as an orphan's; the pod's own teardown come late, as its
// watch's after crt's death): a start short of addresses releases the
// other leases, not its, and leaves its record, namespace and net.json to
// that teardown. Here the test holds the record's lock, as they do; once
// it lets go, crt gc tears the network down.
TEST_F(NetworkTest, ALeaseWhoseNetworkRecordIsLockedIsNotReleased) {
  check_cgroups_ = false;                        // crt gc's part, and the test's
  write_ptp_network("tiny", "172.30.238.0/29");  // .2 to .6
  std::string dead = run_and_kill_crt({"--net=tiny", "busybox", "--", "/bin/sleep", "60"});
  ASSERT_FALSE(dead.empty());
  std::string id = "crt-" + dead, ip = pod_ip(dead, "tiny");
  std::string lease = ipam_dir() + "/tiny/" + ip;
  ASSERT_EQ(read_file(lease).substr(0, id.size()), id);
  fill_subnet_with_dead_leases("tiny", "172.30.238.", ip);
  stdfs::path record = net::network_record_dir(dead);
  ASSERT_TRUE(stdfs::is_directory(record));
  FileLock held = FileLock::try_acquire(record, FileLock::Mode::kExclusive);
  ASSERT_TRUE(held.valid());
  Result r = crt(with_config({"run", "--net=tiny", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(lease).substr(0, id.size()), id);
  EXPECT_TRUE(stdfs::exists(record / "net.json"));
  EXPECT_TRUE(stdfs::exists("/run/netns/" + id));
  auto st = net::read_state(pod_dir(dead));
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->torn_down);
  held = FileLock();
  expect_gc_tears_down(dead);
  EXPECT_THAT(NetSnapshot::take().mentioning(id), ::testing::IsEmpty());
  EXPECT_FALSE(stdfs::exists(record));
  EXPECT_EQ(crt({"rm", dead}).status, 0);
}

// Releasing the leases of pods that are gone is for a network short of
// addresses: an ADD that fails for another reason releases none, and says
// what failed.
TEST_F(NetworkTest, AnAddFailingForAnotherReasonReleasesNoLease) {
  write_network("50-halfway.conflist",
                R"({"cniVersion":"1.0.0","name":"halfway","plugins":[{"type":"ptp","ipam":{"type":"host-local",)"
                R"("subnet":"172.30.242.0/29","dataDir":")" +
                    ipam_dir() + R"("}},{"type":"nosuchplugin"}]})");
  std::string lease = ipam_dir() + "/halfway/172.30.242.6";
  stdfs::create_directories(ipam_dir() + "/halfway");
  std::ofstream(lease) << "crt-00000000-0000-4000-8000-000000000006\r\neth0";
  Result r = crt(with_config({"run", "--net=halfway", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: setting up network 'halfway': plugin 'nosuchplugin' not found in ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(stdfs::exists(lease));
}

TEST_F(NetworkTest, HundredPodsInALoopLeaveNoLeaseBehind) {
  std::vector<std::string> before = sorted_lines(run({"ls", std::string(kIpamDir) + "/default"}).out);
  for (int i = 0; i < 100; ++i) {
    Result r = crt({"run", "busybox", "--", "/bin/true"});
    ASSERT_EQ(r.status, 0) << i << ": " << r.err;
    std::error_code ec;
    for (const auto& uuid : pods("run")) stdfs::remove_all(pod_dir(uuid), ec);
  }
  EXPECT_EQ(sorted_lines(run({"ls", std::string(kIpamDir) + "/default"}).out), before);
}

}  // namespace
}  // namespace crt::test
