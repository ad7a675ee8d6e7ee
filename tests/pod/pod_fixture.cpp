#include "pod_fixture.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "net/pod_network.hpp"
#include "net/result.hpp"
#include "net/state.hpp"

namespace crt::test {

namespace stdfs = std::filesystem;

namespace {

/// PIDs whose command line or mount table mentions `needle`.
std::vector<std::string> processes_mentioning(const std::string& needle, bool mounts) {
  std::vector<std::string> out;
  for (const auto& de : stdfs::directory_iterator("/proc")) {
    std::string name = de.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::to_string(::getpid()) == name) continue;
    std::string content = read_file("/proc/" + name + (mounts ? "/mountinfo" : "/cmdline"));
    if (content.find(needle) != std::string::npos) {
      std::string cmd = read_file("/proc/" + name + "/cmdline");
      for (char& c : cmd)
        if (c == '\0') c = ' ';
      out.push_back(name + " " + cmd);
    }
  }
  return out;
}

void find_service_dirs(const stdfs::path& dir, const std::string& leaf, std::vector<stdfs::path>& out) {
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec)) {
    if (!de.is_directory(ec)) continue;
    if (de.path().filename() == leaf) out.push_back(de.path());
    find_service_dirs(de.path(), leaf, out);
  }
}

/// Pod tests hold it shared; those that compare the host's whole network
/// state hold it alone.
const char* const kNetworkLock = "/run/lock/crt-pod-tests.lock";

}  // namespace

void PodTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "pod tests run real pods and need root";
  net_lock_ = FileLock::acquire(kNetworkLock, exclusive_network_ ? FileLock::Mode::kExclusive : FileLock::Mode::kShared);
  if (exclusive_network_) before_ = NetSnapshot::take();
  crt_bin_ = CRT_BIN;
  // CRT_POD_TEST_DIR: where the pods' state goes (default /var/tmp), e.g.
  // a directory that is no overlay where / is one.
  const char* parent = std::getenv("CRT_POD_TEST_DIR");
  std::string tmpl = std::string(parent != nullptr && *parent != '\0' ? parent : "/var/tmp") + "/crt-podtest.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << tmpl;
  dir_ = tmpl;
}

void PodTest::TearDown() {
  if (dir_.empty()) return;
  if (HasFailure()) {
    // What nspawn said is often why a pod did not do what the test wanted.
    std::error_code ec;
    for (const auto& state : stdfs::directory_iterator(dir_ + "/pods", ec))
      for (const auto& pod : stdfs::directory_iterator(state.path(), ec)) {
        std::string log = read_file((pod.path() / "nspawn.log").string());
        if (log.size() > 3000) log = "…" + log.substr(log.size() - 3000);
        if (!log.empty()) std::fprintf(stderr, "--- %s/nspawn.log:\n%s\n", pod.path().c_str(), log.c_str());
      }
  }
  // A pod still running at this point is a test failure; give it a moment
  // to finish its orderly exit first.
  std::vector<std::string> nspawns;
  for (int i = 0; i < 100; ++i) {
    nspawns = processes_mentioning(dir_, false);
    if (nspawns.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(nspawns.empty()) << "processes still refer to " << dir_ << ": " << ::testing::PrintToString(nspawns);
  for (const auto& p : nspawns) ::kill(std::stoi(p), SIGKILL);

  std::vector<std::string> ns = processes_mentioning(dir_, true);
  EXPECT_TRUE(ns.empty()) << "mounts of " << dir_ << " are still held by: " << ::testing::PrintToString(ns);
  std::string host_mounts = read_file("/proc/self/mountinfo");
  EXPECT_EQ(host_mounts.find(dir_), std::string::npos) << "a mount of the test leaked into the host";

  check_networks();

  for (const char* state : {"prepare", "prepared", "run", "exited-garbage", "garbage"}) {
    for (const auto& uuid : pods(state)) {
      for (const auto& d : pod_cgroup_dirs(uuid)) {
        if (check_cgroups_) {
          EXPECT_TRUE(cgroup_gone(d)) << "cgroup left behind: " << d;
        }
        if (stdfs::exists(d)) {
          cgroup::PodCgroup(cgroup::detect_layout(), cgroup::PodCgroup::relative_path("crt-" + uuid)).remove();
        }
      }
    }
  }
  std::error_code ec;
  // nspawn's links to the journals of pods whose crt was killed (crt gc's
  // job, which the test did not ask for).
  for (const auto& de : stdfs::directory_iterator("/var/log/journal", ec))
    if (de.is_symlink(ec) && stdfs::read_symlink(de.path(), ec).string().rfind(dir_ + "/", 0) == 0)
      stdfs::remove(de.path(), ec);
  stdfs::remove_all(dir_, ec);
  net_lock_ = FileLock();
}

void PodTest::check_networks() {
  std::vector<std::string> uuids;
  for (const auto& pod : pods_in_any_state()) uuids.push_back(dir_ + "/pods/" + pod);
  auto teardown_all = [&] {
    for (const auto& pod : uuids) {
      try {
        net::teardown_pod_network(pod);
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    }
  };
  if (!check_cgroups_) teardown_all();  // what crt gc does
  NetSnapshot now = NetSnapshot::take();
  for (const auto& pod : uuids) {
    std::string id = "crt-" + stdfs::path(pod).filename().string();
    EXPECT_THAT(now.mentioning(id), ::testing::IsEmpty()) << "left behind by pod " << id;
    if (auto st = net::read_state(pod)) {
      for (const auto& a : st->attachments) {
        if (a.result.is_null()) continue;
        for (const auto& link : net::parse_result(a.result).host_interfaces())
          EXPECT_FALSE(stdfs::exists("/sys/class/net/" + link)) << "interface " << link << " of pod " << id;
      }
    }
  }
  if (exclusive_network_) {
    EXPECT_EQ(before_.diff(now), "") << "the host's network changed";
  }
  // Whatever a failed test left, the next one must not find it.
  teardown_all();
}

PodTest::BoundProgram PodTest::bound_program(const std::string& host_path) {
  stdfs::path p(host_path);
  return {"--volume=bin,kind=host,source=" + p.parent_path().string() + ",readOnly=true",
          "--mount=volume=bin,target=/opt/bin", "/opt/bin/" + p.filename().string()};
}

std::vector<std::string> PodTest::crt_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {crt_bin_, "--dir=" + dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result PodTest::crt(const std::vector<std::string>& args, const RunOptions& opts) {
  return run(crt_argv(args), opts);
}

std::vector<std::string> PodTest::pods(const std::string& state) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir_ + "/pods/" + state, ec)) out.push_back(de.path().filename());
  return out;
}

std::vector<std::string> PodTest::pods_in_any_state() const {
  std::vector<std::string> out;
  for (const char* state : {"prepare", "prepared", "run", "exited-garbage", "garbage"})
    for (const auto& uuid : pods(state)) out.push_back(std::string(state) + "/" + uuid);
  return out;
}

bool PodTest::host_has_controller(const std::string& c) {
  for (const auto& h : cgroup::detect_layout().hierarchies) {
    if (std::find(h.controllers.begin(), h.controllers.end(), c) != h.controllers.end()) return true;
    if (h.v2) {
      std::istringstream names(read_file((h.mount_point / "cgroup.controllers").string()));
      for (std::string n; names >> n;)
        if (n == c) return true;
    }
  }
  return false;
}

bool PodTest::cgroup_gone(const std::string& dir) {
  if (!stdfs::exists("/run/systemd/system")) return !stdfs::exists(dir);
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10); stdfs::exists(dir);) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::vector<std::string> PodTest::pod_cgroup_dirs(const std::string& uuid) {
  std::vector<std::string> out;
  cgroup::PodCgroup cg(cgroup::detect_layout(), cgroup::PodCgroup::relative_path("crt-" + uuid));
  for (const auto& p : cg.paths()) out.push_back(p);
  return out;
}

namespace {

bool runs_its_parents_program(pid_t pid) {
  std::error_code ec;
  std::string proc = "/proc/" + std::to_string(pid);
  std::istringstream status(read_file(proc + "/status"));
  std::string parent;
  for (std::string line; std::getline(status, line);)
    if (line.rfind("PPid:", 0) == 0) parent = line.substr(5);
  parent.erase(0, parent.find_first_not_of(" \t"));
  stdfs::path exe = stdfs::read_symlink(proc + "/exe", ec);
  if (ec || parent.empty()) return true;  // gone, or not yet readable: ask again
  stdfs::path parent_exe = stdfs::read_symlink("/proc/" + parent + "/exe", ec);
  return !ec && exe == parent_exe;
}

}  // namespace

pid_t PodTest::wait_app_pid(const std::string& uuid, const std::string& app, std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    for (const auto& top : pod_cgroup_dirs(uuid)) {
      std::vector<stdfs::path> dirs;
      find_service_dirs(top, app + ".service", dirs);
      for (const auto& d : dirs) {
        std::istringstream procs(read_file((d / "cgroup.procs").string()));
        pid_t pid = 0;
        // Not systemd's child before it executes the app (first "systemd",
        // then "(sleep)"): that one has neither the app's mount namespace nor
        // its sandbox yet. The kernel tells: it still runs its parent's
        // program.
        if (procs >> pid && pid > 0 && !runs_its_parents_program(pid)) return pid;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string PodTest::wait_uuid(const std::string& file) const {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < until) {
    std::string s = read_file(file);
    if (s.size() >= 36) return s.substr(0, 36);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

void PodTest::import_stage1_and_busybox() {
  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
}

void PodTest::make_socket(const std::string& path) {
  // Bound by its last component from its directory: sun_path is short.
  pid_t child = ::fork();
  if (child == 0) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string name = stdfs::path(path).filename();
    std::strncpy(a.sun_path, name.c_str(), sizeof a.sun_path - 1);
    bool ok = fd >= 0 && ::chdir(stdfs::path(path).parent_path().c_str()) == 0 &&
              ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "making socket " << path;
}

pid_t PodTest::pod_process(const std::string& uuid, const std::string& comm, const std::string& cgroup) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (read_file(e.path() / "comm") != comm + "\n") continue;
    std::string cg = read_file(e.path() / "cgroup");
    // The machine's scope (crt-UUID, '-' escaped as \x2d) or crt's own cgroup.
    if (cg.find(cgroup) != std::string::npos && cg.find(uuid.substr(0, 8)) != std::string::npos) return std::stoi(name);
  }
  return -1;
}

std::string PodTest::proc_status(pid_t pid, const std::string& key) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      size_t start = v.find_first_not_of(" \t");
      return start == std::string::npos ? "" : v.substr(start);
    }
  }
  return {};
}

std::vector<std::string> PodTest::store_entries(const std::string& sub) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir_ + "/store/" + sub, ec)) out.push_back(de.path().filename());
  return out;
}

}  // namespace crt::test
