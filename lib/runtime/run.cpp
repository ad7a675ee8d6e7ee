#include "runtime/run.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cgroup/cgroup.hpp"
#include "common/fs.hpp"
#include "mount/in_root.hpp"
#include "mount/overlay.hpp"
#include "pod/app_config.hpp"
#include "pod/exit_status.hpp"
#include "pod/rootfs_lookup.hpp"
#include "pod/units.hpp"
#include "runtime/images.hpp"
#include "runtime/nspawn.hpp"
#include "runtime/pod_dir.hpp"
#include "runtime/supervisor.hpp"
#include "store/store.hpp"
#include "unit/render.hpp"

#ifndef CRT_VERSION
#define CRT_VERSION "unknown"
#endif

namespace crt::runtime {

namespace stdfs = std::filesystem;

Interrupted::Interrupted(int sig) : Error(std::string("interrupted by ") + sigabbrev_np(sig)), sig_(sig) {}

namespace {

/// Blocks the signals the supervisor handles; before the pod starts they stay
/// pending and are noticed at checkpoints.
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, &saved_);
  }
  ~SignalBlock() { sigprocmask(SIG_SETMASK, &saved_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  [[nodiscard]] const sigset_t& saved() const { return saved_; }

 private:
  sigset_t saved_{};
};

void check_interrupted() {
  sigset_t pending;
  sigpending(&pending);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    if (sigismember(&pending, s)) throw Interrupted(s);
}

pod::PodManifest plan_pod(const pod::RunRequest& req, store::Store& store, const RunContext& ctx) {
  pod::PodManifest m;
  m.uuid = new_uuid();
  m.created = store::now_rfc3339();
  m.crt_version = CRT_VERSION;
  store::Image stage1 = ensure_stage1(store, ctx.data_dir, req.pod.stage1_path);
  m.stage1 = {stage1.names.empty() ? "" : stage1.names.front(), stage1.id, stage1.layers};
  for (const auto& app : req.apps) {
    store::Image im = resolve_image(store, app.image, ctx.data_dir);
    m.apps.push_back(pod::make_app_manifest(app, req.pod, im));
  }
  pod::validate_apps(m.apps);
  m.net = req.pod.net;
  m.hostname = req.pod.hostname ? *req.pod.hostname : m.machine_name();
  m.interactive = req.pod.interactive;
  return m;
}

std::vector<stdfs::path> trees(const store::Store& store, const std::vector<std::string>& layers) {
  std::vector<stdfs::path> out;
  for (const auto& l : layers) out.push_back(store.tree_path(l));
  return out;
}

void mount_pod(const PodDir& pod, const pod::PodManifest& m, const store::Store& store) {
  mount::mount_overlay(trees(store, m.stage1.layers), pod.stage1_upper(), pod.stage1_work(), pod.stage1_rootfs());
  UniqueFd stage1 = fs::open_fd(pod.stage1_rootfs(), O_PATH | O_DIRECTORY);
  for (const auto& app : m.apps) {
    with_context("mounting the rootfs of app " + quote(app.name), [&] {
      fs::make_dirs(pod.app_upper(app.name));
      fs::make_dirs(pod.app_work(app.name));
      UniqueFd target = mount::make_dir_in_root(stage1.get(), pod::app_rootfs_in_stage1(app.name));
      mount::mount_overlay(trees(store, app.image.layers), pod.app_upper(app.name), pod.app_work(app.name),
                           mount::fd_path(target.get()));
    });
  }
  UniqueFd status = mount::make_dir_in_root(stage1.get(), "/crt/status");
  mount::bind_mount(pod.status_dir(), mount::fd_path(status.get()));
}

void resolve_apps(const PodDir& pod, pod::PodManifest& m) {
  for (auto& app : m.apps) {
    with_context("app " + quote(app.name), [&] {
      stdfs::path rootfs = pod.stage1_rootfs() / pod::app_rootfs_in_stage1(app.name).substr(1);
      UniqueFd root = fs::open_fd(rootfs, O_PATH | O_DIRECTORY);
      pod::resolve_user(app, pod::read_in_root(root.get(), "/etc/passwd"),
                        pod::read_in_root(root.get(), "/etc/group"));
      if (m.interactive) {
        const char* term = std::getenv("TERM");
        app.env.emplace_back("TERM", term != nullptr && *term != '\0' ? term : "xterm");
      }
      pod::resolve_exec(app, root.get(), rootfs.string());
      mount::make_dir_in_root(root.get(), app.working_dir);
    });
  }
}

void write_units(const PodDir& pod, const pod::PodManifest& m) {
  stdfs::path dir = pod.stage1_rootfs() / pod::kStage1UnitDir;
  fs::make_dirs(dir);
  for (const auto& [name, unit] : pod::pod_units(m)) unit::write(unit, dir / name);
  fs::write_file_atomic(pod.stage1_rootfs() / "etc" / "passwd", pod::stage1_passwd(m), 0644, fs::Durability::kCached);
  fs::write_file_atomic(pod.stage1_rootfs() / "etc" / "group", pod::stage1_group(m), 0644, fs::Durability::kCached);
  // journald writes the pod's journal here; it exists before the pod starts so
  // that crt can follow it from the first line.
  fs::make_dirs(pod.stage1_rootfs() / "var" / "log" / "journal" / machine_id_of(m.uuid));
}

/// nspawn keeps per-machine state under /run/systemd/nspawn and refuses to
/// clean it up when /run is not a tmpfs; give it a private tmpfs there, gone
/// with our mount namespace.
void isolate_nspawn_run_dir() {
  struct statfs sfs {};
  if (::statfs("/run", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) return;
  fs::make_dirs("/run/systemd/nspawn");
  if (::mount("tmpfs", "/run/systemd/nspawn", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
    throw_errno("mounting a tmpfs on '/run/systemd/nspawn'");
}

struct Spawn {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::vector<UniqueFd> cgroup_procs;
  UniqueFd stdin_fd, stdout_fd, stderr_fd;  ///< invalid: inherit
  int lock_fd = -1;
  bool own_process_group = false;
  sigset_t mask{};
};

/// Forks and executes nspawn. The child only makes async-signal-safe calls.
pid_t spawn(Spawn& s) {
  std::vector<char*> argv;
  for (auto& a : s.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : s.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("starting systemd-nspawn");
  if (pid > 0) return pid;

  // Child.
  for (const auto& fd : s.cgroup_procs)
    if (::write(fd.get(), "0", 1) != 1) _exit(126);
  if (s.own_process_group) ::setpgid(0, 0);
  // If crt dies, nspawn stops the pod the orderly way.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) _exit(1);
  if (s.stdin_fd) ::dup2(s.stdin_fd.get(), 0);
  if (s.stdout_fd) ::dup2(s.stdout_fd.get(), 1);
  if (s.stderr_fd) ::dup2(s.stderr_fd.get(), 2);
  // The pod directory stays locked (= running) for as long as nspawn lives.
  ::fcntl(s.lock_fd, F_SETFD, 0);
  ::sigprocmask(SIG_SETMASK, &s.mask, nullptr);
  ::execvpe(argv[0], argv.data(), envp.data());
  _exit(127);
}

std::vector<pod::AppExit> read_exits(const PodDir& pod) {
  std::vector<pod::AppExit> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(pod.status_dir(), ec)) {
    try {
      out.push_back(nlohmann::json::parse(fs::read_file(de.path())).get<pod::AppExit>());
    } catch (const std::exception&) {
      // A record being written when the pod was killed: ignore it.
    }
  }
  return out;
}

std::string log_tail(const stdfs::path& log) {
  std::string s;
  try {
    s = fs::read_file(log);
  } catch (const Error&) {
    return {};
  }
  if (s.size() > 2000) s = s.substr(s.size() - 2000);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

int exit_status(const PodDir& pod, const pod::PodManifest& m, const PodEnd& end) {
  std::vector<pod::AppExit> exits = read_exits(pod);
  if (exits.empty()) {
    // Stopped on request before any app started: not a failure of crt's.
    if (end.stop_signal != 0) throw Interrupted(end.stop_signal);
    std::string tail = log_tail(pod.nspawn_log());
    throw Error("the pod ended before any app ran (systemd-nspawn exited with " +
                std::to_string(end.nspawn_status) + ")" + (tail.empty() ? "" : ":\n" + tail));
  }
  for (const auto& app : m.apps) {
    bool ran = std::any_of(exits.begin(), exits.end(), [&](const pod::AppExit& e) { return e.app == app.name; });
    if (!ran && end.stop_signal == 0)
      std::fprintf(stderr, "crt: app '%s' did not run; see the pod's journal\n", app.name.c_str());
  }
  return pod::pod_exit_status(exits);
}

void remove_journal_link(const PodDir& pod) {
  stdfs::path link = stdfs::path("/var/log/journal") / machine_id_of(pod.uuid());
  std::error_code ec;
  if (!stdfs::is_symlink(link, ec)) return;
  std::string target = stdfs::read_symlink(link, ec).string();
  if (!ec && target.rfind(pod.path().string(), 0) == 0) ::unlink(link.c_str());
}

/// Undoes a pod that never started.
class Rollback {
 public:
  explicit Rollback(PodDir& pod) : pod_(pod) {}
  ~Rollback() {
    if (committed_) return;
    // Our mounts live only in this mount namespace; detach them all.
    ::umount2(pod_.stage1_rootfs().c_str(), MNT_DETACH);
    try {
      pod_.remove();
    } catch (const Error& e) {
      std::fprintf(stderr, "crt: warning: leaving %s behind: %s\n", pod_.path().c_str(), e.what());
    }
  }
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  void commit() { committed_ = true; }

 private:
  PodDir& pod_;
  bool committed_ = false;
};

}  // namespace

int run_pod(const pod::RunRequest& req, const RunContext& ctx) {
  auto trace = [&](std::string_view what) {
    if (ctx.trace) ctx.trace(what);
  };
  SignalBlock signals;
  store::Store store(ctx.state_dir);
  pod::PodManifest m = plan_pod(req, store, ctx);
  trace("planned pod " + m.uuid);
  // Until the overlays are mounted, no image this pod uses may be removed.
  FileLock store_lock = store.lock_shared();
  check_interrupted();

  PodDir pod = PodDir::create(ctx.state_dir, m.uuid);
  Rollback rollback(pod);
  pod.write_manifest(m);
  if (req.pod.uuid_file_save)
    fs::write_file_atomic(*req.pod.uuid_file_save, m.uuid + "\n", 0644, fs::Durability::kCached);

  // Mount where the pod will run: the overlay options name these paths, and
  // that is what users see in findmnt and /proc/PID/mountinfo.
  pod.move_to(PodState::kRun);
  trace("created " + pod.path().string());
  mount::enter_private_mount_namespace();
  with_context("preparing pod " + m.uuid, [&] {
    mount_pod(pod, m, store);
    trace("mounted stage1 and the apps");
    resolve_apps(pod, m);
    pod.write_manifest(m);
    write_units(pod, m);
    trace("wrote the units");
    isolate_nspawn_run_dir();
  });
  store_lock = FileLock();
  check_interrupted();

  cgroup::PodCgroup cg = cgroup::PodCgroup::create(cgroup::detect_layout(), m.machine_name());
  struct CgroupCleanup {
    const cgroup::PodCgroup& cg;
    bool done = false;
    void now() {
      if (!done) cg.remove();
      done = true;
    }
    ~CgroupCleanup() { now(); }
  } cg_cleanup{cg};

  NspawnOptions nopts;
  nopts.stage1_rootfs = pod.stage1_rootfs();
  nopts.debug = req.pod.debug;
  nopts.console = m.interactive ? Console::kInteractive : (req.pod.debug ? Console::kReadOnly : Console::kPassive);
  nopts.register_machine = false;
  nopts.extra = cg.nspawn_args();

  Spawn s;
  s.argv = nspawn_command(m, nopts);
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "SYSTEMD_COLORS=", 15) != 0) s.env.emplace_back(*e);
  if (!req.pod.debug) s.env.emplace_back("SYSTEMD_COLORS=0");
  // nspawn's inner child writes its warnings to the pod's console, which an
  // interactive pod shares with the user's terminal.
  if (m.interactive && !req.pod.debug) s.env.emplace_back("SYSTEMD_LOG_LEVEL=crit");
  s.cgroup_procs = cg.open_procs();
  s.lock_fd = pod.lock().fd();
  s.own_process_group = !m.interactive;
  s.mask = signals.saved();
  if (!m.interactive) s.stdin_fd = fs::open_fd("/dev/null", O_RDONLY);
  if (!req.pod.debug) {
    s.stderr_fd = fs::open_fd(pod.nspawn_log(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (!m.interactive) s.stdout_fd = fs::open_fd(pod.nspawn_log(), O_WRONLY | O_APPEND);
  }
  trace("created cgroup " + cg.relative());
  pid_t pid = spawn(s);
  trace("started systemd-nspawn (pid " + std::to_string(pid) + ")");
  rollback.commit();
  fs::write_file_atomic(pod.pid_file(), std::to_string(pid) + "\n", 0644, fs::Durability::kCached);

  SuperviseOptions sopts;
  sopts.nspawn_pid = pid;
  if (!m.interactive) sopts.journal_dir = pod.journal_dir();
  for (const auto& a : m.apps) sopts.apps.push_back(a.name);
  sopts.prefix_app_names = m.apps.size() > 1;
  PodEnd end;
  try {
    end = supervise(sopts);
  } catch (...) {
    ::kill(pid, SIGTERM);
    throw;
  }
  trace("systemd-nspawn exited with " + std::to_string(end.nspawn_status));
  remove_journal_link(pod);
  cg_cleanup.now();
  trace("removed the pod's cgroup");
  return exit_status(pod, m, end);
}

}  // namespace crt::runtime
