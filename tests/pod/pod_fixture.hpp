#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "../support/process.hpp"
#include "common/lock.hpp"
#include "net_snapshot.hpp"

namespace crt::test {

/// Runs real pods as root in a state directory of its own, and after each
/// test checks from the outside that nothing is left behind: no overlay
/// mount, no mount namespace and no nspawn process referring to the test's
/// directory, no cgroup of its pods, and nothing of their networks: no
/// network namespace, interface, iptables rule or IPAM lease.
class PodTest : public ::testing::Test {
 protected:
  /// `exclusive_network`: the test compares the host's whole network state
  /// (NetSnapshot) before and after, so no other pod test may run meanwhile.
  explicit PodTest(bool exclusive_network = false) : exclusive_network_(exclusive_network) {}

  void SetUp() override;
  void TearDown() override;

  /// `crt --dir=<test dir> ARGS…`
  Result crt(const std::vector<std::string>& args, const RunOptions& opts = {});
  std::vector<std::string> crt_argv(const std::vector<std::string>& args) const;

  /// UUIDs of the pods in pods/<state>/.
  std::vector<std::string> pods(const std::string& state) const;
  /// Every pod as "STATE/UUID", whichever state's folder it is in: for a
  /// check that none is left.
  std::vector<std::string> pods_in_any_state() const;
  std::string pod_dir(const std::string& uuid) const { return dir_ + "/pods/run/" + uuid; }

  /// Waits until the main process of `app` in pod `uuid` runs; its host PID.
  pid_t wait_app_pid(const std::string& uuid, const std::string& app,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

  /// Reads the UUID crt wrote with --uuid-file-save=<file>, waiting for it
  /// (up to a minute: a first pod imports stage1 and busybox first).
  std::string wait_uuid(const std::string& file) const;

  /// Imports stage1 and busybox into the test's store by running a pod, so
  /// that what a test times or interrupts next is the pod's start alone.
  void import_stage1_and_busybox();

  /// One of the tests' programs (a *_BIN path of the build) as an app sees
  /// it: `volume` (before the image) binds its directory read-only, `mount`
  /// (after it) at /opt/bin, where the app finds it as `path`.
  struct BoundProgram {
    std::string volume, mount, path;
  };
  static BoundProgram bound_program(const std::string& host_path);

  /// The line of /proc/PID/status for `key` ("CapBnd" -> "00000000a80425fb").
  static std::string proc_status(pid_t pid, const std::string& key);

  /// A process of the pod `uuid` named `comm` whose cgroup path has `cgroup`
  /// in it; -1 if there is none.
  static pid_t pod_process(const std::string& uuid, const std::string& comm, const std::string& cgroup);

  /// Makes a listening-less unix socket at `path` (any length).
  static void make_socket(const std::string& path);

  /// Whether this host's cgroups give pods controller `c` ("memory", "cpu"):
  /// a v1 hierarchy of it, or the v2 hierarchy's root lists it. Not so on a
  /// cgroup-v2-only host booted on a machine whose v1 hierarchies hold the
  /// controllers (a unified test host on these hybrid machines).
  static bool host_has_controller(const std::string& c);

  /// Whether cgroup directory `dir` is gone; where the host runs systemd,
  /// once it is, up to 10 s: there a pod's scope is systemd's, which
  /// removes it when it finds it empty, a moment after the pod ended (more
  /// on a busy machine).
  static bool cgroup_gone(const std::string& dir);

  /// The directories of a pod's cgroup in every hierarchy.
  static std::vector<std::string> pod_cgroup_dirs(const std::string& uuid);

  /// Files inside an app's writable layer (what the app wrote).
  std::string app_upper(const std::string& uuid, const std::string& app) const {
    return pod_dir(uuid) + "/overlay/apps/" + app + "/upper";
  }

  /// Files of a store directory ("trees", "blobs/sha256", "tmp"); none if
  /// it is not there.
  std::vector<std::string> store_entries(const std::string& sub) const;

  /// The pod's network as saved in its directory, if any ("" otherwise).
  std::string net_state(const std::string& uuid) const { return read_file(pod_dir(uuid) + "/net.json"); }

  std::string dir_;
  std::string crt_bin_;
  /// Tests that kill crt itself leave the pod's cgroup and network to crt gc;
  /// the fixture does gc's part before it checks.
  bool check_cgroups_ = true;

 private:
  void check_networks();

  bool exclusive_network_;
  FileLock net_lock_;
  NetSnapshot before_;
};

}  // namespace crt::test
