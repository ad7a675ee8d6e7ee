// The sandbox of an app, checked from the host the way the seed document
// inspects a pod: /proc/PID/status, /proc/PID/ns, /proc/PID/cgroup, cgroup files.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "../support/x86_abi.hpp"
#include "cgroup/cgroup.hpp"
#include "common/json_text.hpp"
#include "pod_fixture.hpp"
#include "runtime/images.hpp"
#include "sandbox/pod_filter.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace stdfs = std::filesystem;

class SandboxTest : public PodTest {
 protected:
  /// Starts a pod sleeping in app "busybox" with `flags` and returns its app PID.
  pid_t start_sleeper(const std::vector<std::string>& app_flags) {
    std::vector<std::string> args = {"run", "--uuid-file-save=" + dir_ + "/uuid", "busybox"};
    args.insert(args.end(), app_flags.begin(), app_flags.end());
    args.insert(args.end(), {"--", "/bin/sleep", "60"});
    pod_ = std::make_unique<Process>(crt_argv(args));
    uuid_ = wait_uuid(dir_ + "/uuid");
    if (uuid_.empty()) return -1;
    // Before exec the unit's cgroup holds systemd's forked child, not yet
    // sandboxed; wait for the app itself. Its exec is done when its
    // environment is there too: the kernel names the process before it has
    // set up the new program's stack, and environ reads empty until then.
    for (int i = 0; i < 500; ++i) {
      pid_t pid = wait_app_pid(uuid_, "busybox");
      std::string proc = "/proc/" + std::to_string(pid);
      if (pid > 0 && read_file(proc + "/comm") == "sleep\n" && !read_file(proc + "/environ").empty()) return pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  void TearDown() override {
    if (pod_) {
      pod_->signal(SIGTERM);
      Result r = pod_->wait();
      EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
    }
    PodTest::TearDown();
  }
  /// The cgroup directory of the app in the hierarchy mounted at `mount`.
  std::string app_cgroup(pid_t pid, const std::string& controller) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);) {
      size_t a = line.find(':');
      size_t b = line.find(':', a + 1);
      std::string ctrls = line.substr(a + 1, b - a - 1);
      std::string path = line.substr(b + 1);
      if (controller.empty() ? ctrls.empty() : ("," + ctrls + ",").find("," + controller + ",") != std::string::npos)
        return path;
    }
    return {};
  }
  /// A copy of crt in a prefix of its own whose data directory has all but
  /// pod-seccomp.bpf.
  std::string crt_without_pod_filter() {
    stdfs::path crt = dir_ + "/prefix/bin/crt";
    stdfs::path data = runtime::data_dir_of(crt);
    stdfs::create_directories(crt.parent_path());
    stdfs::create_directories(data);
    stdfs::copy_file(crt_bin_, crt, stdfs::copy_options::overwrite_existing);
    for (const char* f : {"stage1.tar", "stage1.tar.sha256", "images"})
      if (!stdfs::is_symlink(data / f)) stdfs::create_symlink(runtime::data_dir_of(crt_bin_) / f, data / f);
    return crt.string();
  }
  std::unique_ptr<Process> pod_;
  std::string uuid_;
};

TEST_F(SandboxTest, CapabilityBoundingSetAndSeccompAreRktsDefaults) {
  pid_t pid = start_sleeper({});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(proc_status(pid, "CapBnd"), "00000000a80425fb");
  EXPECT_EQ(proc_status(pid, "Seccomp"), "2");
  // Filters of its own, besides the pod's (which alone would give Seccomp 2).
  pid_t pod_systemd = std::stoi(proc_status(pid, "PPid"));
  EXPECT_GT(std::stoi(proc_status(pid, "Seccomp_filters")), std::stoi(proc_status(pod_systemd, "Seccomp_filters")));
  EXPECT_EQ(proc_status(pid, "NoNewPrivs"), "0");
  Result decoded = run({"capsh", "--decode=" + proc_status(pid, "CapBnd")});
  EXPECT_THAT(decoded.out, HasSubstr("cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,"
                                     "cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,"
                                     "cap_audit_write,cap_setfcap"));
}

// What `crt run` was told, as the host sees the app's process: its user
// and group, environment and working directory.
TEST_F(SandboxTest, TheHostSeesTheAppsUserEnvironmentAndWorkingDirectory) {
  pid_t pid = start_sleeper({"--user=33", "--group=100", "--environment=GREETING=hello there", "--working-dir=/srv/w"});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(proc_status(pid, "Uid"), "33\t33\t33\t33");
  EXPECT_EQ(proc_status(pid, "Gid"), "100\t100\t100\t100");
  std::string proc = "/proc/" + std::to_string(pid);
  std::string environ = std::string(1, '\0') + read_file(proc + "/environ");
  std::string shown = environ;
  std::replace(shown.begin(), shown.end(), '\0', ' ');
  for (const char* kv : {"GREETING=hello there", "CRT_APP_NAME=busybox", "USER=www-data", "HOME=/var/www"})
    EXPECT_NE(environ.find(std::string(1, '\0') + kv + std::string(1, '\0')), std::string::npos)
        << kv << " not in " << shown;
  std::string cwd = std::filesystem::read_symlink(proc + "/cwd").string();
  EXPECT_TRUE(cwd.ends_with("/srv/w")) << cwd;
}

/// Why the tests cannot read a process's filters ("" if they can): the
/// kernel shows them to no tracer that is under a filter itself, as in a
/// container whose manager loads one (nspawn's, docker's).
std::string filters_unreadable() {
  if (read_file("/proc/self/status").find("\nSeccomp:\t0\n") != std::string::npos) return {};
  return "the tests run under a seccomp filter: the kernel shows them no process's filters";
}

/// The BPF programs of the seccomp filters on `pid`, oldest first, read
/// with ptrace (the process is interrupted for a moment).
std::vector<std::string> seccomp_programs(pid_t pid) {
  std::vector<std::string> out;
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) return {"(ptrace failed)"};
  ::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr);
  ::waitpid(pid, nullptr, __WALL);
  for (long i = 0;; ++i) {
    long n = ::ptrace(static_cast<__ptrace_request>(PTRACE_SECCOMP_GET_FILTER), pid, i, nullptr);
    if (n <= 0) break;
    std::string prog(static_cast<size_t>(n) * sizeof(sock_filter), '\0');
    ::ptrace(static_cast<__ptrace_request>(PTRACE_SECCOMP_GET_FILTER), pid, i, prog.data());
    out.push_back(std::move(prog));
  }
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return out;
}

std::vector<std::string> programs_of(const sandbox::PodFilter& f) {
  std::vector<std::string> out;
  for (const auto& p : f.programs)
    out.emplace_back(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(sock_filter));
  return out;
}

pid_t parent_of(pid_t pid) {
  std::string ppid = read_file("/proc/" + std::to_string(pid) + "/stat");
  ppid = ppid.substr(ppid.rfind(')') + 4);
  return static_cast<pid_t>(std::stol(ppid));
}

// crt loads nspawn's filter, compiled at build time, instead of having
// nspawn compile it for every pod: the pod's systemd carries exactly the
// programs nspawn of this machine makes itself (and crt's vsock and
// personality ones), and each app adds its own.
TEST_F(SandboxTest, ThePodRunsUnderTheFilterNspawnWouldHaveCompiled) {
  if (std::string why = filters_unreadable(); !why.empty()) GTEST_SKIP() << why;
  std::vector<std::string> built =
      programs_of(sandbox::read_pod_filter(sandbox::pod_filter_path(runtime::data_dir_of(crt_bin_))));
  pid_t app = start_sleeper({});
  ASSERT_GT(app, 0);
  pid_t leader = parent_of(app);
  EXPECT_EQ(read_file("/proc/" + std::to_string(leader) + "/comm"), "systemd\n");
  // nspawn was told to skip its own, so these are crt's.
  auto nspawn_skips_its_filter = [](pid_t nspawn) {
    std::string env = read_file("/proc/" + std::to_string(nspawn) + "/environ");
    const std::string nul(1, '\0');
    return (nul + env).find(nul + "SYSTEMD_SECCOMP=0" + nul) != std::string::npos;
  };
  EXPECT_TRUE(nspawn_skips_its_filter(parent_of(leader)));
  std::vector<std::string> pod = seccomp_programs(leader);
  EXPECT_EQ(pod, built);
  std::vector<std::string> app_programs = seccomp_programs(app);
  ASSERT_GT(app_programs.size(), pod.size());
  EXPECT_TRUE(std::equal(pod.begin(), pod.end(), app_programs.begin()));

  // A crt whose data directory lacks the file leaves the filter to nspawn,
  // also when the user's environment says to skip it.
  std::vector<std::string> argv = crt_argv({"run", "--net=none", "--uuid-file-save=" + dir_ + "/uuid2", "busybox",
                                            "--", "/bin/sleep", "60"});
  argv[0] = crt_without_pod_filter();
  Process other(argv, {.env = {"SYSTEMD_SECCOMP=0"}, .timeout = std::chrono::seconds(60), .input = {},
                       .new_session = false});
  std::string uuid = wait_uuid(dir_ + "/uuid2");
  ASSERT_FALSE(uuid.empty());
  pid_t other_app = -1;
  for (int i = 0; i < 500 && other_app < 0; ++i) {
    pid_t p = wait_app_pid(uuid, "busybox");
    if (p > 0 && read_file("/proc/" + std::to_string(p) + "/comm") == "sleep\n") other_app = p;
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(other_app, 0);
  EXPECT_FALSE(nspawn_skips_its_filter(parent_of(parent_of(other_app))));
  EXPECT_EQ(seccomp_programs(parent_of(other_app)), programs_of(sandbox::compile_nspawns_filter()));
  other.signal(SIGTERM);
  EXPECT_EQ(other.wait().status, 128 + SIGTERM);
}

#if defined(__x86_64__)
/// The architecture a filter program of libseccomp's is for: it loads the
/// audit architecture (seccomp_data.arch) first, then compares it with its own.
uint32_t architecture_of(const std::string& prog) {
  bool loaded = false;
  for (size_t off = 0; off + sizeof(sock_filter) <= prog.size(); off += sizeof(sock_filter)) {
    sock_filter ins{};
    std::memcpy(&ins, prog.data() + off, sizeof ins);
    if (ins.code == (BPF_LD | BPF_W | BPF_ABS) && ins.k == offsetof(seccomp_data, arch))
      loaded = true;
    else if (loaded && ins.code == (BPF_JMP | BPF_JEQ | BPF_K))
      return ins.k;
  }
  return 0;
}

// The pod's systemd builds and loads an app's filter for each architecture
// it knows, at every app start. Where the kernel runs no x86 programs (int
// $0x80 faults before any filter sees it) or no x32 ones (ENOSYS), crt has
// it leave them out. (systemd applies RestrictNamespaces= before it
// restricts the architectures, so that one filter has a program for each
// architecture all the same: this app goes without it.)
TEST_F(SandboxTest, AppsGetNoFilterForArchitecturesTheKernelCannotRun) {
  if (std::string why = filters_unreadable(); !why.empty()) GTEST_SKIP() << why;
  pid_t app = start_sleeper({"--allow-namespaces=all"});
  ASSERT_GT(app, 0);
  std::vector<std::string> pod = seccomp_programs(parent_of(app));
  std::vector<std::string> all = seccomp_programs(app);
  ASSERT_GT(all.size(), pod.size());
  auto apps_own = [&](uint32_t arch) {
    return std::count_if(all.begin() + static_cast<long>(pod.size()), all.end(),
                         [&](const std::string& p) { return architecture_of(p) == arch; });
  };
  // x86-64's and, where the kernel runs x32, x32's (also AUDIT_ARCH_X86_64).
  EXPECT_GE(apps_own(AUDIT_ARCH_X86_64), x32_system_calls_unusable() ? 1 : 2);
  bool x86 = apps_own(AUDIT_ARCH_I386) > 0;
  EXPECT_EQ(x86, !x86_system_calls_fault());
  std::string unit = read_file(pod_dir(uuid_) + "/overlay/stage1/upper/etc/systemd/system/busybox.service");
  std::string archs = expected_syscall_architectures();
  if (archs.empty())
    EXPECT_THAT(unit, Not(HasSubstr("SystemCallArchitectures=")));
  else
    EXPECT_THAT(unit, HasSubstr("\nSystemCallArchitectures=" + archs + "\n"));
  EXPECT_EQ(proc_status(app, "Seccomp"), "2");
  // The filter still denies what it denies.
  Result r = crt({"enter", uuid_, "/bin/sh", "-c", "swapoff /nonexistent; echo $?"});
  EXPECT_THAT(r.err + r.out, HasSubstr("Operation not permitted"));
}
#endif

TEST_F(SandboxTest, AFilterTheKernelRefusesFailsThePodClearly) {
  std::string crt_copy = crt_without_pod_filter();
  sandbox::PodFilter bad;
  bad.arch = sandbox::compile_pod_filter().arch;
  bad.programs.push_back({sock_filter{0xffff, 0, 0, 0}});
  sandbox::write_pod_filter(bad, sandbox::pod_filter_path(runtime::data_dir_of(crt_copy)));
  std::vector<std::string> argv = crt_argv({"run", "--net=none", "busybox", "--", "/bin/true"});
  argv[0] = crt_copy;
  Result r = run(argv);
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: loading the pod's system call filter (pod-seccomp.bpf) failed: EINVAL\n"));
}

TEST_F(SandboxTest, NamespacesDifferFromTheHostExceptUser) {
  pid_t pid = start_sleeper({});
  ASSERT_GT(pid, 0);
  auto ns = [](const std::string& who, const char* kind) {
    return stdfs::read_symlink("/proc/" + who + "/ns/" + kind).string();
  };
  std::string app = std::to_string(pid);
  // The network too: --net=default gives every pod its own.
  for (const char* kind : {"mnt", "pid", "uts", "ipc", "cgroup", "net"})
    EXPECT_NE(ns(app, kind), ns("self", kind)) << kind;
  // No user namespace.
  EXPECT_EQ(ns(app, "user"), ns("self", "user"));
}

TEST_F(SandboxTest, AppRunsInItsServiceCgroupUnderThePodsScope) {
  pid_t pid = start_sleeper({});
  ASSERT_GT(pid, 0);
  std::string escaped = "machine-crt";
  for (char c : uuid_) escaped += c == '-' ? std::string("\\x2d") : std::string(1, c);
  escaped = "machine.slice/" + escaped.replace(0, 11, "machine-crt\\x2d") + ".scope";
  std::string cgroups = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  EXPECT_THAT(cgroups, HasSubstr("/" + escaped + "/"));
  EXPECT_THAT(cgroups, HasSubstr("system.slice/busybox.service\n"));
}

TEST_F(SandboxTest, MemoryAndCpuLimitsReachTheAppsCgroup) {
  if (!host_has_controller("memory") || !host_has_controller("cpu"))
    GTEST_SKIP() << "this host's cgroups have no memory or cpu controller to limit an app with";
  pid_t pid = start_sleeper({"--memory=100M", "--cpu=200m"});
  ASSERT_GT(pid, 0);
  // As the mounted hierarchies say: /proc/PID/cgroup also lists the v1
  // ones on a cgroup-v2-only host booted on a hybrid machine.
  if (!cgroup::detect_layout().unified()) {
    std::string v1 = app_cgroup(pid, "memory");
    EXPECT_EQ(read_file("/sys/fs/cgroup/memory" + v1 + "/memory.limit_in_bytes"), "99999744\n");  // page-rounded
    std::string cpu = app_cgroup(pid, "cpu");
    EXPECT_EQ(read_file("/sys/fs/cgroup/cpu" + cpu + "/cpu.cfs_quota_us"), "20000\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/cpu" + cpu + "/cpu.cfs_period_us"), "100000\n");
  } else {
    std::string v2 = app_cgroup(pid, "");
    EXPECT_EQ(read_file("/sys/fs/cgroup" + v2 + "/memory.max"), "99999744\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup" + v2 + "/cpu.max"), "20000 100000\n");
  }
}

// The kernel's smallest CPU quota is 1 ms a period: below 10m (1 % of the
// default 100 ms) systemd widens the period, so that 9m stays 0.9 %.
TEST_F(SandboxTest, ACpuLimitBelowTenMillicoresIsKept) {
  if (!host_has_controller("cpu")) GTEST_SKIP() << "this host's cgroups have no cpu controller";
  pid_t pid = start_sleeper({"--cpu=9m"});
  ASSERT_GT(pid, 0);
  long quota = 0, period = 0;
  if (!cgroup::detect_layout().unified()) {
    std::string cpu = "/sys/fs/cgroup/cpu" + app_cgroup(pid, "cpu");
    quota = std::stol(read_file(cpu + "/cpu.cfs_quota_us"));
    period = std::stol(read_file(cpu + "/cpu.cfs_period_us"));
  } else {
    std::istringstream max(read_file("/sys/fs/cgroup" + app_cgroup(pid, "") + "/cpu.max"));
    max >> quota >> period;
  }
  ASSERT_GT(period, 0);
  EXPECT_EQ(quota * 1000000 / period, 9000) << quota << " of " << period << " us";
}

TEST_F(SandboxTest, AnAppThatRunsOutOfMemoryIsToldSo) {
  if (::access("/dev/kmsg", R_OK) != 0) GTEST_SKIP() << "no kernel log to read here";
  const std::vector<std::string> hog = {"--", "/bin/sh", "-c", "x=a; while true; do x=\"$x$x\"; done"};
  std::string uuid_file = dir_ + "/uuid";
  std::vector<std::string> args = {"run", "--net=none", "--pod-name=hog", "--uuid-file-save=" + uuid_file};
  args.insert(args.end(), {"busybox", "--memory=20M"});
  args.insert(args.end(), hog.begin(), hog.end());
  Result r = crt(args);
  EXPECT_EQ(r.status, 137);
  EXPECT_THAT(r.err, HasSubstr("crt: app 'busybox' ran out of memory (its limit is 20000000 bytes, --memory): "
                               "the kernel's OOM killer killed its process 'sh'\n"));
  // crt status keeps it after the pod's end.
  EXPECT_THAT(crt({"status", "--uuid-file=" + uuid_file}).out, HasSubstr("app-busybox=137\napp-busybox-oom-kills=1\n"));
  auto j = crt::json_text::parse(crt({"status", "--format=json", "--uuid-file=" + uuid_file}).out);
  EXPECT_EQ(j["app_oom_kills"], nlohmann::json({{"busybox", 1}}));
  // A SIGKILL of another kind is not taken for one, nor is the last kill
  // of a pod of the same name.
  for (const char* script : {"kill -9 $$", "exit 1"}) {
    r = crt({"run", "--net=none", "--pod-name=hog", "--uuid-file-save=" + uuid_file, "busybox", "--memory=20M", "--",
             "/bin/sh", "-c", script});
    EXPECT_NE(r.status, 0);
    EXPECT_THAT(r.err, Not(HasSubstr("memory"))) << script;
    EXPECT_THAT(crt({"status", "--uuid-file=" + uuid_file}).out, Not(HasSubstr("oom-kills"))) << script;
  }
}

// Seen from the host, in the app's mount table: each of the kernel's
// interfaces rkt (and Docker) keep from apps that this kernel has is a
// mount of its own, read-only or an inaccessible node.
TEST_F(SandboxTest, TheAppsMountTableHasEachKernelInterfaceReadOnlyOrHidden) {
  pid_t pid = start_sleeper({});
  ASSERT_GT(pid, 0);
  // Mount point (relative to the app's root) -> "ROOT OPTIONS" of the last
  // mount there, the one the app sees.
  std::map<std::string, std::string> mounts;
  std::istringstream table(read_file("/proc/" + std::to_string(pid) + "/mountinfo"));
  for (std::string line; std::getline(table, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point, options;
    fields >> id >> parent >> device >> root >> point >> options;
    mounts[point] = root + " " + options;
  }
  auto host_has = [](std::string path) {
    if (path.back() == '/') path.pop_back();
    return std::filesystem::exists(path);
  };
  int checked = 0;
  for (std::string path : {"/proc/bus/", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                           "/proc/sys/vm/panic_on_oom", "/proc/sysrq-trigger", "/sys/block/", "/sys/bus/",
                           "/sys/class/", "/sys/dev/", "/sys/devices/", "/sys/kernel/"}) {
    if (!host_has(path)) continue;
    if (path.back() == '/') path.pop_back();
    ASSERT_TRUE(mounts.count(path)) << path << " is no mount of its own";
    EXPECT_THAT(mounts[path] + ",", ::testing::ContainsRegex(" ro,")) << path;
    ++checked;
  }
  for (std::string path :
       {"/sys/firmware/", "/sys/fs/", "/sys/hypervisor/", "/sys/module/", "/sys/power/", "/proc/config.gz",
        "/proc/kallsyms", "/proc/sched_debug", "/proc/kcore", "/proc/kmem", "/proc/mem", "/proc/latency_stats",
        "/sys/devices/virtual/powercap/", "/proc/keys", "/proc/timer_list"}) {
    if (!host_has(path)) continue;
    if (path.back() == '/') path.pop_back();
    ASSERT_TRUE(mounts.count(path)) << path << " is no mount of its own";
    EXPECT_THAT(mounts[path], HasSubstr("/inaccessible/")) << path;
    ++checked;
  }
  EXPECT_GE(checked, 10);  // this kernel has most of them
}

// The default filter runs ordinary software: Debian's coreutils (the
// host's, with its loader and libraries, from a read-only volume), which
// use threads (a sort larger than its buffer), statx, inotify, timers and
// more than busybox does.
TEST_F(SandboxTest, TheDefaultFilterRunsDebiansCoreutils) {
  const std::string libs = "/usr/lib/x86_64-linux-gnu";
  if (!std::filesystem::exists(libs + "/ld-linux-x86-64.so.2")) GTEST_SKIP() << "not an x86-64 Debian host";
  const std::string script =
      "L=/host" + libs +
      "; run() { \"$L/ld-linux-x86-64.so.2\" --library-path \"$L\" \"/host/usr/bin/$@\"; }\n"
      "run ls -la / >/dev/null && echo ls\n"
      "echo b > /tmp/x && run cp /tmp/x /tmp/y && echo cp\n"
      "printf 'b\\na\\nc\\n' | run sort | run tr '\\n' ' '; echo\n"
      "run seq 400000 | run shuf | run sort -n --parallel=2 -S 1M | run tail -n 1\n"
      "run stat -c %s /tmp/y\n"
      "run mkdir -p /tmp/d/e && run rm -r /tmp/d && echo mkdir-rm\n"
      "run touch /tmp/t && run chmod 600 /tmp/t && run chown 33:33 /tmp/t && echo touch-chmod-chown\n"
      "run ln -s /tmp/t /tmp/l && run readlink /tmp/l\n"
      "run sha256sum /tmp/x | run cut -c1-12\n"
      "run du -s /tmp >/dev/null && echo du\n"
      "run df / >/dev/null && echo df\n"
      "run timeout 5 /bin/sleep 0.1 && echo timeout\n"
      "run timeout 0.5 \"$L/ld-linux-x86-64.so.2\" --library-path \"$L\" /host/usr/bin/tail -f /tmp/x; echo tail-f $?\n"
      "run date -d @0 -u +%Y\n"
      "run dd if=/dev/zero of=/tmp/z bs=4k count=4 status=none && run wc -c < /tmp/z\n";
  Result r = crt({"run", "--net=none", "--volume=usr,kind=host,source=/usr,readOnly=true", "busybox",
                  "--mount=volume=usr,target=/host/usr", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "ls\ncp\na b c \n400000\n2\nmkdir-rm\ntouch-chmod-chown\n/tmp/t\n0263829989b6\ndu\ndf\ntimeout\nb\n"
            "tail-f 124\n1970\n16384\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(SandboxTest, KernelInterfacesAreReadOnlyOrHidden) {
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c",
                  "ls /sys/fs/cgroup >/dev/null 2>&1 && echo sysfs-visible; "
                  "[ -n \"$(head -c1 /proc/kallsyms 2>/dev/null)\" ] && echo kallsyms-readable; "
                  "touch /sys/class/x 2>/dev/null && echo sys-writable; "
                  "(echo c > /proc/sysrq-trigger) 2>/dev/null && echo sysrq-writable; echo done"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "done\n");
}

// An app's environment also reaches crt's helper that runs, with full
// privileges in stage1, as the app ends (ExecStopPost=+): an image's
// LD_PRELOAD must not run its code there.
TEST_F(SandboxTest, AnAppsLdPreloadDoesNotReachCrtsHelpers) {
  BoundProgram lib = bound_program(PRELOAD_MARKER_SO);
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, lib.volume, "busybox", lib.mount,
                  "--environment=LD_PRELOAD=/opt/stage2/busybox/rootfs" + lib.path, "--", "/bin/echo", "ended"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ended\n");
  std::string uuid = wait_uuid(file);
  EXPECT_TRUE(stdfs::exists(pod_dir(uuid) + "/status/busybox")) << "the app's end was not recorded";
  EXPECT_FALSE(stdfs::exists(pod_dir(uuid) + "/status/preloaded"));
}

// Apps reach stage1's journal sockets through a read-only bind: a root app
// can use them, not remove or replace them.
TEST_F(SandboxTest, StageOnesJournalSocketsCanBeUsedNotReplaced) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                  "rm /run/systemd/journal/socket || echo kept; touch /run/systemd/journal/x || echo no-new; "
                  "logger -t tagged through-dev-log"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "kept\nno-new\n");
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
  EXPECT_THAT(crt({"logs", wait_uuid(file)}).out, HasSubstr("through-dev-log"));
}

// io_uring (whose operations bypass the filter), userfaultfd and
// process_vm_readv are in @system-service; the default takes them back,
// as Docker's does; the pod's filter takes vsock sockets.
TEST_F(SandboxTest, TheDefaultFilterDeniesIoUringAndCrossProcessMemory) {
  BoundProgram probe = bound_program(SYSCALL_PROBE_BIN);
  Result r = crt({"run", "--net=none", probe.volume, "busybox", probe.mount, "--exec=" + probe.path});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "io_uring_setup EPERM\nprocess_vm_readv EPERM\nuserfaultfd EPERM\nsocket_vsock EAFNOSUPPORT\ngetpid ok\n");
}

// The calls the filter over the whole pod allows (nspawn's list) and only
// the app's own filter denies, made with the capability each needs: the
// app's filter is what stops them. (CAP_SYS_ADMIN allows every namespace
// type, and so the mount calls, unless --allow-namespaces says otherwise.)
TEST_F(SandboxTest, TheAppsFilterDeniesMountAndRebootEvenWithTheirCapabilities) {
  BoundProgram probe = bound_program(SYSCALL_PROBE_BIN);
  std::vector<std::string> args = {"run",     "--net=none", probe.volume,
                                   "busybox", probe.mount,  "--caps-retain=CAP_SYS_ADMIN,CAP_SYS_BOOT"};
  std::vector<std::string> calls = {"--", probe.path, "mount", "umount2", "reboot"};
  std::vector<std::string> argv = args;
  argv.push_back("--allow-namespaces=none");
  argv.insert(argv.end(), calls.begin(), calls.end());
  Result r = crt(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "mount EPERM\numount2 EPERM\nreboot EPERM\n");
  // CAP_SYS_ADMIN's namespaces bring the mount calls, as in Docker.
  argv = args;
  argv.insert(argv.end(), calls.begin(), calls.end());
  r = crt(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "mount ENOENT\numount2 ENOENT\nreboot EPERM\n");
  // A filter of the user's own that allows them: the kernel answers.
  argv = args;
  argv.push_back("--seccomp=mode=remove,mkdir");
  argv.insert(argv.end(), calls.begin(), calls.end());
  r = crt(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "mount ENOENT\numount2 ENOENT\nreboot EINVAL\n");
}

#if defined(__x86_64__)
// The pod's filter allows Docker's personalities: linux32 (setarch i686)
// works, setarch -R (no ASLR for what it executes) does not, also where the
// app's own filter is the user's; and the pod's systemd, which queries its
// personality, runs the app.
TEST_F(SandboxTest, ThePodTakesLinux32ButNotAPersonalityWithoutAslr) {
  BoundProgram probe = bound_program(SYSCALL_PROBE_BIN);
  std::string script = "linux32 uname -m; linux32 cat /proc/self/personality; linux64 uname -m; " + probe.path +
                       " personality_query personality_linux32 personality_no_aslr";
  for (std::string filter : {"", "--seccomp=mode=remove,mkdir"}) {
    std::vector<std::string> argv = {"run", "--net=none", probe.volume, "busybox", probe.mount};
    if (!filter.empty()) argv.push_back(filter);
    argv.insert(argv.end(), {"--", "/bin/sh", "-c", script});
    Result r = crt(argv);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "i686\n00000008\nx86_64\npersonality_query ok\npersonality_linux32 ok\npersonality_no_aslr EPERM\n")
        << filter;
  }
}
#endif

TEST_F(SandboxTest, DeniedSyscallFailsWithEperm) {
  // adjtimex() without arguments only reads the clock: no capability needed,
  // but @clock is not in the default allow-list.
  Result r = crt({"run", "busybox", "--", "adjtimex"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("Operation not permitted"));
  // A filter of the user's own: mkdir removed.
  r = crt({"run", "busybox", "--seccomp=mode=remove,mkdir,mkdirat", "--", "mkdir", "/x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("Operation not permitted"));
  r = crt({"run", "busybox", "--seccomp=mode=remove,errno=ENOSYS,mkdir,mkdirat", "--", "mkdir", "/x"});
  EXPECT_THAT(r.err, HasSubstr("Function not implemented"));
}

TEST_F(SandboxTest, AppsMakeNoNamespacesUnlessTheyKeepCapSysAdmin) {
  // A user namespace would give the app every capability in it.
  const std::string script =
      "unshare -U true && echo user; unshare -n true && echo net; unshare -u true && echo uts; "
      "unshare -U -u true && echo user+uts; unshare -U -n true && echo user+net; nsenter -t $$ -u true && echo joined; "
      "echo done";
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "done\n");
  EXPECT_THAT(r.err, HasSubstr("unshare(0x10000000): Operation not permitted"));
  // As with Docker's and podman's filters, CAP_SYS_ADMIN allows them.
  r = crt({"run", "busybox", "--caps-retain=CAP_SYS_ADMIN", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "user\nnet\nuts\nuser+uts\nuser+net\njoined\ndone\n") << r.err;
  // Or some types, without the capability (a sandbox of user namespaces).
  r = crt({"run", "busybox", "--allow-namespaces=user,uts", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.status, 0) << r.err;
  // A uts namespace takes CAP_SYS_ADMIN: over a user namespace of its own.
  EXPECT_EQ(r.out, "user\nuser+uts\ndone\n") << r.err;
  r = crt({"run", "busybox", "--caps-retain=CAP_SYS_ADMIN", "--allow-namespaces=none", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "done\n") << r.err;
  r = crt({"run", "busybox", "--allow-namespaces=user,mount", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("unknown namespace type 'mount'"));
}

// Mount namespaces allowed are for mounting in, as bubblewrap does: the
// mount calls are allowed with them, and work in a user namespace of the
// app's own; outside one the app still cannot mount.
TEST_F(SandboxTest, MountNamespacesAllowedComeWithTheMountCalls) {
  const std::string script =
      "mkdir -p /m; unshare -U -r -m sh -c 'mount -t tmpfs none /m && echo mounted-inside'; "
      "mount -t tmpfs none /m 2>/dev/null || echo refused-outside";
  for (const char* allowed : {"--allow-namespaces=user,mnt", "--allow-namespaces=all"}) {
    Result r = crt({"run", "--net=none", "busybox", allowed, "--", "/bin/sh", "-c", script});
    EXPECT_EQ(r.status, 0) << allowed << ": " << r.err;
    EXPECT_EQ(r.out, "mounted-inside\nrefused-outside\n") << allowed << ": " << r.err;
  }
  // Without mnt, or with a filter of the user's own, the calls stay out.
  Result r = crt({"run", "--net=none", "busybox", "--allow-namespaces=user", "--", "/bin/sh", "-c",
                  "mkdir -p /m; unshare -U -r sh -c 'mount -t tmpfs none /m 2>/dev/null || echo no-mount'"});
  EXPECT_EQ(r.out, "no-mount\n") << r.err;
  r = crt({"run", "--net=none", "busybox", "--allow-namespaces=user,mnt", "--seccomp=mode=retain,@system-service", "--",
           "/bin/sh", "-c", "unshare -U -r -m true || echo no-mount"});
  EXPECT_EQ(r.out, "no-mount\n") << r.err;
}

TEST_F(SandboxTest, CapabilitiesCanBeNarrowed) {
  pid_t pid = start_sleeper({"--caps-retain=CAP_NET_BIND_SERVICE,chown"});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(proc_status(pid, "CapBnd"), "0000000000000401");
}

TEST_F(SandboxTest, DevicesAreOnlyTheUsualOnes) {
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c",
                  "echo x > /dev/null && head -c1 /dev/zero | wc -c && ls /dev | tr '\\n' ' '"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1\n"));
  EXPECT_THAT(r.out, HasSubstr("null"));
  EXPECT_THAT(r.out, HasSubstr("urandom"));
  EXPECT_THAT(r.out, HasSubstr("pts"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("sda")));
}

// CAP_MKNOD is rkt's default, but the device policies decide which nodes
// an app may make: the usual character devices, no disk and no /dev/mem
// (the host's device numbers would give it the host's). The pod may make a
// /dev/net/tun (its network's plugins may want one), its apps may only use
// it: that one tells the app unit's policy from the pod's. On a cgroup v2
// host the pod's policy is its apps' too (their units' would take BPF,
// which the pod's system call filter denies), so there an app may make it.
TEST_F(SandboxTest, AnAppMakesOnlyTheUsualDeviceNodes) {
  Result r = crt({"run", "busybox", "--", "/bin/sh", "-c",
                  "mknod /disk b 8 0 2>&1; mknod /mem c 1 1 2>&1; mknod /tun c 10 200 2>&1; "
                  "mknod /null2 c 1 3 && echo x > /null2 && echo null-made"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mknod: /disk: Operation not permitted"));
  EXPECT_THAT(r.out, HasSubstr("mknod: /mem: Operation not permitted"));
  if (cgroup::detect_layout().unified()) {
    EXPECT_THAT(r.out, Not(HasSubstr("mknod: /tun")));
  } else {
    EXPECT_THAT(r.out, HasSubstr("mknod: /tun: Operation not permitted"));
  }
  EXPECT_THAT(r.out, HasSubstr("null-made"));
}

TEST_F(SandboxTest, DeviceNodesAreTheAppsOwnNotMounts) {
  pid_t pid = start_sleeper({});
  ASSERT_GT(pid, 0);
  std::string root = "/proc/" + std::to_string(pid) + "/root";
  std::string mounts = read_file("/proc/" + std::to_string(pid) + "/mountinfo");
  for (auto [dev, maj, min] : {std::tuple{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8},
                                   {"urandom", 1, 9}, {"tty", 5, 0}}) {
    std::string path = std::string("/dev/") + dev;
    struct stat st {};
    ASSERT_EQ(::stat((root + path).c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << path;
    EXPECT_EQ(st.st_mode & 07777, 0666u) << path;
    EXPECT_EQ(major(st.st_rdev), static_cast<unsigned>(maj)) << path;
    EXPECT_EQ(minor(st.st_rdev), static_cast<unsigned>(min)) << path;
    EXPECT_THAT(mounts, ::testing::Not(HasSubstr(" " + path + " "))) << path << " is a mount";
  }
  // The console stays nspawn's pseudo-terminal, bound.
  EXPECT_THAT(mounts, HasSubstr(" /dev/console "));
}

}  // namespace
}  // namespace crt::test
