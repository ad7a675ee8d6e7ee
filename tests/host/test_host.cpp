#include "test_host.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/pod_dir.hpp"
#include "runtime/spawn.hpp"

namespace crt::test {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// What the machine has enabled (databases, registries, timers, podman)
// would only slow the test host's boot down.
const char* const kNotInTestHost[] = {"etc/systemd/system/default.target.wants",
                                      "etc/systemd/system/multi-user.target.wants",
                                      "etc/systemd/system/timers.target.wants",
                                      "etc/systemd/system/sockets.target.wants",
                                      "etc/systemd/system/getty.target.wants",
                                      "etc/systemd/system/sysinit.target.wants"};

void write(const stdfs::path& p, const std::string& content) {
  fs::make_dirs(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("writing " + p.string());
}

}  // namespace

TestHost::TestHost(const Options& opts) {
  char tmpl[] = "/var/tmp/crt-testhost.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  name_ = "crt-testhost-" + dir_.filename().string().substr(13);
  unified_ = opts.unified;
  boot_ = opts.boot;
  try {
    prepare_root(opts);
    boot();
  } catch (...) {
    stop();
    throw;
  }
}

TestHost::~TestHost() { stop(); }

stdfs::path TestHost::path(const std::string& inside) const { return dir_ / "merged" / inside.substr(inside.find_first_not_of('/')); }

void TestHost::prepare_root(const Options& opts) {
  for (const char* d : {"upper", "work", "merged", "varlib"}) fs::make_dirs(dir_ / d);
  std::string o = "lowerdir=/,upperdir=" + (dir_ / "upper").string() + ",workdir=" + (dir_ / "work").string();
  if (::mount("overlay", (dir_ / "merged").c_str(), "overlay", 0, o.c_str()) < 0)
    throw std::runtime_error("mounting the test host's root: " + std::string(strerror(errno)));
  mounted_ = true;
  stdfs::path root = dir_ / "merged";
  // Its own machine id: journald refuses to link the journals of a
  // container whose id is the host's.
  std::string id = runtime::machine_id_of(runtime::new_uuid());
  write(root / "etc/machine-id", id + "\n");
  stdfs::remove(root / "var/lib/dbus/machine-id");
  stdfs::remove(root / "etc/systemd/system/systemd-firstboot.service");
  stdfs::create_symlink("/dev/null", root / "etc/systemd/system/systemd-firstboot.service");
  for (const char* d : kNotInTestHost) stdfs::remove_all(root / d);
  for (const auto& [p, content] : opts.files) write(path(p), content);
  Result r = run({CMAKE_COMMAND, "--install", opts.build_dir}, {.env = {"DESTDIR=" + root.string()},
                                                                 .timeout = 180s, .input = {}, .new_session = false});
  if (r.status != 0) throw std::runtime_error("cmake --install into the test host failed: " + r.out + r.err);
}

namespace {

bool write_control(const std::filesystem::path& file, const std::string& value) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::write(fd, value.data(), value.size()) >= 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

bool lists(const std::filesystem::path& file, const std::string& c) {
  std::istringstream words(fs::read_file(file));
  std::string w;
  while (words >> w)
    if (w == c) return true;
  return false;
}

}  // namespace

bool TestHost::pass_v2_controller(const std::string& c) {
  if (!unified_) return false;
  for (const auto& h : cgroup::detect_layout().hierarchies) {
    if (!h.v2) continue;
    std::filesystem::path dir = h.mount_point;
    std::vector<std::filesystem::path> levels = {dir};
    for (const auto& part : std::filesystem::path(cgroup_->relative())) levels.push_back(dir /= part);
    for (const auto& level : levels) {
      if (!lists(level / "cgroup.controllers", c)) return false;
      if (lists(level / "cgroup.subtree_control", c)) continue;
      if (!write_control(level / "cgroup.subtree_control", "+" + c)) return false;
      passed_.emplace_back(level, c);  // disabled again by stop()
    }
    // Inside, the host's root cgroup (nspawn's payload) and system.slice.
    return sh("echo +" + c + " > /sys/fs/cgroup/cgroup.subtree_control && echo +" + c +
              " > /sys/fs/cgroup/system.slice/cgroup.subtree_control")
               .status == 0;
  }
  return false;
}

void TestHost::boot() {
  auto start = std::chrono::steady_clock::now();
  cgroup_ = std::make_unique<cgroup::PodCgroup>(cgroup::PodCgroup::create(cgroup::detect_layout(), name_));
  runtime::Spawn s;
  // A network of its own, as another machine would have: its pods' plugins
  // then make their interfaces, rules and leases there, never beside the
  // real host's pods (whose lease files it does not see).
  s.argv = {"systemd-nspawn",
            "--quiet",
            boot_ ? "--boot" : "--as-pid2",
            "--register=no",
            "--keep-unit",
            "--capability=all",
            "--private-network",
            "--console=passive",
            "--machine=" + name_,
            "--directory=" + (dir_ / "merged").string(),
            "--bind=" + (dir_ / "varlib").string() + ":/var/lib/crt"};
  if (unified_) {
    // Its systemd applies device policies with BPF, as a host's does.
    s.argv.push_back("--system-call-filter=bpf");
    s.env = runtime::environment_with({"NOTIFY_SOCKET"}, {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1"});
  } else {
    for (auto& a : cgroup_->nspawn_args()) s.argv.push_back(a);
    s.env = runtime::environment_with({"NOTIFY_SOCKET"}, {});
  }
  if (!boot_) s.argv.insert(s.argv.end(), {"/bin/sleep", "infinity"});
  s.cgroup = cgroup_->open_entry();
  s.own_process_group = true;
  s.stdin_fd = fs::open_fd("/dev/null", O_RDONLY);
  s.stdout_fd = fs::open_fd(dir_ / "console.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
  s.stderr_fd = fs::open_fd(dir_ / "console.log", O_WRONLY | O_APPEND);
  sigemptyset(&s.mask);
  nspawn_ = runtime::spawn(s);
  for (auto until = start + 30s; leader_ <= 0; std::this_thread::sleep_for(20ms)) {
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error("the test host did not start: " + fs::read_file(dir_ / "console.log"));
    leader_ = leader();
  }
  if (!boot_) {
    boot_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return;
  }
  // systemctl fails until the host's own bus is up, and says "offline"
  // while it finds no systemd to ask.
  Result r;
  for (auto until = start + 90s; std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(50ms)) {
    r = sh("systemctl is-system-running --wait", 60s);
    if (!r.out.empty() && r.out != "offline\n") break;
  }
  boot_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.out.find("running") == std::string::npos && r.out.find("degraded") == std::string::npos)
    throw std::runtime_error("the test host did not boot: " + r.out + r.err);
}

pid_t TestHost::leader() const {
  std::string children;
  try {
    children = fs::read_file("/proc/" + std::to_string(nspawn_) + "/task/" + std::to_string(nspawn_) + "/children");
  } catch (const Error&) {
    return -1;
  }
  // nspawn's outer child comes and goes; the host's init is the child that
  // runs systemd (without it, the grandchild under nspawn's stub init that
  // runs sleep).
  std::istringstream in(children);
  for (pid_t pid = 0; in >> pid;) {
    try {
      std::string comm = fs::read_file("/proc/" + std::to_string(pid) + "/comm");
      if (boot_ && comm == "systemd\n") return pid;
      if (!boot_) {
        std::istringstream grandchildren(
            fs::read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
        for (pid_t g = 0; grandchildren >> g;)
          if (fs::read_file("/proc/" + std::to_string(g) + "/comm") == "sleep\n") return g;
      }
    } catch (const Error&) {
    }
  }
  return -1;
}

Result TestHost::sh(const std::string& script, std::chrono::milliseconds timeout) const {
  return run({"nsenter", "-t", std::to_string(leader_), "-a", "/bin/sh", "-c", script},
             {.env = {}, .timeout = timeout, .input = {}, .new_session = true});
}

std::string TestHost::console_log() const {
  try {
    return fs::read_file(dir_ / "console.log");
  } catch (const Error&) {
    return {};
  }
}

void TestHost::stop() {
  if (nspawn_ > 0) {
    // nspawn turns SIGTERM into an orderly poweroff of the test host.
    ::kill(nspawn_, SIGTERM);
    bool gone = false;
    for (auto until = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < until;) {
      if (::waitpid(nspawn_, nullptr, WNOHANG) == nspawn_) {
        gone = true;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (!gone) {
      ::kill(-nspawn_, SIGKILL);
      ::waitpid(nspawn_, nullptr, 0);
    }
    nspawn_ = -1;
  }
  if (cgroup_) {
    cgroup_->remove();
    cgroup_.reset();
  }
  // This machine's cgroups as they were (the test host's own are gone).
  for (auto it = passed_.rbegin(); it != passed_.rend(); ++it)
    if (std::filesystem::exists(it->first)) (void)write_control(it->first / "cgroup.subtree_control", "-" + it->second);
  passed_.clear();
  if (mounted_) {
    ::umount2((dir_ / "merged").c_str(), MNT_DETACH);
    mounted_ = false;
  }
  if (!dir_.empty()) {
    // What the test host's last processes still held may take a moment to
    // be released; try a few times, and say so if the directory stays.
    std::error_code ec;
    for (int i = 0; i < 50; ++i) {
      ec.clear();
      stdfs::remove_all(dir_, ec);
      if (!ec) break;
      std::this_thread::sleep_for(100ms);
    }
    if (ec) std::fprintf(stderr, "test host: could not remove %s: %s\n", dir_.c_str(), ec.message().c_str());
    dir_.clear();
  }
}

}  // namespace crt::test
