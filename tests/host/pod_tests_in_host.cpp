// Runs the pod tests on a host with systemd as PID 1: boots a throwaway
// systemd test host (TestHost, cgroup v2 alone as Debian 12 boots, or with
// --hybrid this machine's layout) and runs build/bin/pod-tests inside it,
// one gtest filter at a time, each with a timeout, so that one hang costs
// one chunk. Then prints what the pods left in the test host.
//
// pod-tests runs as a transient service of the test host's systemd (as
// under a CI runner's service; its pods get a scope each, as from a login
// shell), or with --nsenter in the test host's namespaces alone, as the host
// tests run crt (its cgroup is then outside the test host's tree).
//
// Usage: pod-tests-in-host [--hybrid] [--nsenter] [--timeout=SECONDS] FILTER…
//   e.g. pod-tests-in-host 'RunTest.*:SandboxTest.*' 'LifecycleTest.*'
// Exits 0 when every chunk passed.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mount/mounts.hpp"
#include "test_host.hpp"

namespace {

using namespace std::chrono_literals;

// What the pod tests leave behind when a pod outlives its test.
const char* const kLeftovers =
    "echo '--- machinectl list'; machinectl list --no-legend; "
    "echo '--- crt units'; systemctl list-units --all --no-legend 'crt*' 'machine-crt*'; "
    "echo '--- failed units'; systemctl list-units --failed --no-legend; "
    "echo '--- machine.slice'; ls /sys/fs/cgroup/machine.slice 2>/dev/null; "
    "echo '--- overlay mounts'; findmnt -t overlay -n -o TARGET | grep -v '^/$'; "
    "echo '--- nspawn'; pgrep -a systemd-nspawn; "
    "echo '--- netns'; ip netns list; "
    "echo '--- test dirs'; ls /var/lib/crt/pod-tests";

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::fputs("pod-tests-in-host: run as root\n", stderr);
    return 2;
  }
  crt::test::TestHost::Options o;
  o.build_dir = BUILD_DIR;
  o.unified = true;
  int timeout = 1200;
  bool nsenter = false;
  std::vector<std::string> filters;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--hybrid")
      o.unified = false;
    else if (a == "--nsenter")
      nsenter = true;
    else if (a.rfind("--timeout=", 0) == 0)
      timeout = std::stoi(a.substr(10));
    else
      filters.push_back(a);
  }
  if (filters.empty()) filters.push_back("*");
  // The test host's mounts live and die with this process.
  crt::mount::enter_private_mount_namespace();
  // Its systemd without nspawn's system call filter, as a host's PID 1
  // runs: under one, the tests could not read their pods' filters.
  ::setenv("SYSTEMD_SECCOMP", "0", 1);
  crt::test::TestHost host(o);
  ::unsetenv("SYSTEMD_SECCOMP");
  std::printf("test host booted in %.1f s (%s)\n", host.boot_seconds(), o.unified ? "unified" : "hybrid");
  std::fflush(stdout);
  // The pods' state on a real directory of the test host (its /var/tmp is
  // on its overlay root, which a pod's overlay cannot stack on).
  host.sh("mkdir -p /var/lib/crt/pod-tests");
  int failed = 0;
  for (const auto& f : filters) {
    auto start = std::chrono::steady_clock::now();
    std::string env =
        "CRT_POD_TEST_DIR=/var/lib/crt/pod-tests PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    std::string cmd = "timeout -k 10 " + std::to_string(timeout) +
                      " '" BUILD_DIR "/bin/pod-tests' --gtest_brief=1 --gtest_filter='" + f + "'";
    std::string script = nsenter ? "cd '" BUILD_DIR "' && env " + env + " " + cmd + " 2>&1"
                                 : "systemd-run --quiet --wait --pipe --collect --service-type=exec "
                                   "-p WorkingDirectory='" BUILD_DIR "' -E " +
                                       std::string(env).replace(env.find(' '), 1, " -E ") + " " + cmd + " 2>&1";
    crt::test::Result r = host.sh(script, std::chrono::seconds(timeout + 30));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("=== %s: status %d%s, %.0f s\n%s%s\n", f.c_str(), r.status, r.timed_out ? " (timed out)" : "", s,
                r.out.c_str(), r.err.c_str());
    std::fflush(stdout);
    if (r.status != 0) ++failed;
  }
  std::printf("=== left in the test host:\n%s\n", host.sh(kLeftovers).out.c_str());
  host.stop();
  std::printf("=== %d of %zu chunks failed\n", failed, filters.size());
  return failed == 0 ? 0 : 1;
}
