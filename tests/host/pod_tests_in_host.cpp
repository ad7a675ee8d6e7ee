// Runs the pod tests on a host with systemd as PID 1: boots a throwaway
// systemd test host (TestHost, cgroup v2 alone as Debian 12 boots, or with
// --hybrid this machine's layout) and runs build/bin/pod-tests inside it,
// one gtest filter at a time, each with a timeout, so that one hang costs
// one chunk. Then checks what the pods left in the test host.
//
// pod-tests runs as a transient service of the test host's systemd (as
// under a CI runner's service; its pods get a scope each, as from a login
// shell), or with --nsenter in the test host's namespaces alone, as the host
// tests run crt (its cgroup is then outside the test host's tree).
//
// Usage: pod-tests-in-host [--hybrid] [--nsenter] [--timeout=SECONDS] FILTER…
//   e.g. pod-tests-in-host 'RunTest.*:SandboxTest.*' 'LifecycleTest.*'
// Exits 0 when every chunk ran tests and passed, and the pods left nothing
// in the test host that was not there before them; 1 otherwise, after a
// summary naming the failed tests and what was left.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mount/mounts.hpp"
#include "test_host.hpp"

namespace {

using namespace std::chrono_literals;

// What the pod tests leave behind when a pod outlives its test, one line
// per thing, prefixed with what it is.
const char* const kLeftovers =
    "machinectl list --no-legend | sed 's/^/machine: /'; "
    "systemctl list-units --all --plain --no-legend 'crt*' 'machine-crt*' | sed 's/^/crt unit: /'; "
    "systemctl list-units --failed --plain --no-legend | sed 's/^/failed unit: /'; "
    "find /sys/fs/cgroup/machine.slice /sys/fs/cgroup/*/machine.slice -mindepth 1 -maxdepth 1 -type d 2>/dev/null "
    "| sed 's/^/cgroup: /'; "
    "findmnt -t overlay -n -o TARGET | grep -v '^/$' | sed 's/^/overlay mount: /'; "
    "pgrep -a systemd-nspawn | sed 's/^/nspawn: /'; "
    "ip netns list | sed 's/^/netns: /'; "
    "ls /var/lib/crt/pod-tests | sed 's/^/test dir: /'";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// What pod-tests said of a chunk: how many tests ran, which failed.
struct ChunkReport {
  int ran = -1;  // -1: no summary line, pod-tests did not get to its end
  std::vector<std::string> failed;
};

// The names after gtest's "[  FAILED  ] " (a test may be named twice: as
// it ends, and in a summary), not its count lines.
std::vector<std::string> failed_tests(const std::vector<std::string>& out) {
  const std::string mark = "[  FAILED  ] ";
  std::vector<std::string> names;
  for (const auto& l : out) {
    if (l.rfind(mark, 0) != 0) continue;
    std::string name = l.substr(mark.size(), l.find(' ', mark.size()) - mark.size());
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

ChunkReport read_report(const std::string& output) {
  ChunkReport r;
  std::vector<std::string> out = lines(output);
  const std::string summary = "[==========] ";
  for (const auto& l : out)
    if (l.rfind(summary, 0) == 0 && l.find(" ran.") != std::string::npos) r.ran = std::atoi(l.c_str() + summary.size());
  r.failed = failed_tests(out);
  return r;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// Runs pod-tests with gtest filter `filter` in the test host, killed after
// `timeout` seconds.
std::string chunk_script(const std::string& filter, int timeout, bool nsenter) {
  std::string env =
      "CRT_POD_TEST_DIR=/var/lib/crt/pod-tests PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::string cmd = "timeout -k 10 " + std::to_string(timeout) +
                    " '" BUILD_DIR "/bin/pod-tests' --gtest_brief=1 --gtest_filter='" + filter + "'";
  if (nsenter) return "cd '" BUILD_DIR "' && env " + env + " " + cmd + " 2>&1";
  return "systemd-run --quiet --wait --pipe --collect --service-type=exec -p WorkingDirectory='" BUILD_DIR "' -E " +
         env.replace(env.find(' '), 1, " -E ") + " " + cmd + " 2>&1";
}

// What went wrong in the chunk of `filter`, if anything: a chunk that ran
// no test proves nothing.
std::optional<std::string> chunk_problem(const std::string& filter, const crt::test::Result& r,
                                         const ChunkReport& report, int timeout) {
  if (!report.failed.empty()) return "failed in '" + filter + "': " + joined(report.failed);
  if (report.ran < 0)
    return "'" + filter + "' did not end: " +
           (r.timed_out || r.status == 124 ? "timed out after " + std::to_string(timeout) + " s"
                                           : "status " + std::to_string(r.status));
  if (report.ran == 0) return "'" + filter + "' ran no test";
  if (r.status != 0) return "'" + filter + "' ended with status " + std::to_string(r.status);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::fputs("pod-tests-in-host: run as root\n", stderr);
    return 2;
  }
  auto begin = std::chrono::steady_clock::now();
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
  std::optional<crt::test::TestHost> booted;
  try {
    booted.emplace(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pod-tests-in-host: %s\n", e.what());
    return 1;
  }
  crt::test::TestHost& host = *booted;
  ::unsetenv("SYSTEMD_SECCOMP");
  std::printf("test host booted in %.1f s (%s)\n", host.boot_seconds(), o.unified ? "unified" : "hybrid");
  std::fflush(stdout);
  // The pods' state on a real directory of the test host (its /var/tmp is
  // on its overlay root, which a pod's overlay cannot stack on).
  host.sh("mkdir -p /var/lib/crt/pod-tests");
  // What is there before any pod (a unit that failed at boot, say) is no
  // pod's leftover.
  std::vector<std::string> before = lines(host.sh(kLeftovers).out);
  std::vector<std::string> problems;
  for (const auto& f : filters) {
    auto start = std::chrono::steady_clock::now();
    crt::test::Result r = host.sh(chunk_script(f, timeout, nsenter), std::chrono::seconds(timeout + 30));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ChunkReport report = read_report(r.out);
    std::printf("=== %s: status %d%s, %d tests, %.0f s\n%s%s\n", f.c_str(), r.status, r.timed_out ? " (timed out)" : "",
                report.ran, s, r.out.c_str(), r.err.c_str());
    std::fflush(stdout);
    if (auto p = chunk_problem(f, r, report, timeout)) problems.push_back(*p);
  }
  std::set<std::string> known(before.begin(), before.end());
  for (const auto& l : lines(host.sh(kLeftovers).out))
    if (!known.contains(l)) problems.push_back("left in the test host: " + l);
  host.stop();
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  for (const auto& p : problems) std::printf("=== %s\n", p.c_str());
  std::printf("=== %s in %.0f s\n", problems.empty() ? "passed" : "FAILED", total);
  return problems.empty() ? 0 : 1;
}
