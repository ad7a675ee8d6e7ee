#include "runtime/launch.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "cgroup/cgroup.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/subprocess.hpp"
#include "dbus/machine_manager.hpp"
#include "dbus/systemd_manager.hpp"
#include "mount/app_plan.hpp"
#include "mount/in_root.hpp"
#include "mount/overlay.hpp"
#include "net/pod_etc.hpp"
#include "net/pod_network.hpp"
#include "pod/exit_status.hpp"
#include "pod/manifest.hpp"
#include "pod/rootfs_lookup.hpp"
#include "pod/units.hpp"
#include "runtime/app_process.hpp"
#include "runtime/console_log.hpp"
#include "runtime/crt_death_watch.hpp"
#include "runtime/host.hpp"
#include "runtime/machines.hpp"
#include "runtime/nspawn.hpp"
#include "runtime/oom_kills.hpp"
#include "runtime/pods.hpp"
#include "runtime/remove.hpp"
#include "runtime/service_progress.hpp"
#include "runtime/spawn.hpp"
#include "runtime/stop.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/terminal.hpp"
#include "sandbox/seccomp.hpp"
#include "unit/render.hpp"

namespace crt::runtime {

static_assert(net::kPluginTimeLimit + kTimeLimitOverrun + kCleanupAfterProgram <= pod::kStopCleanup,
              "a teardown program's renewal asks for no more than the cleanup's time");

namespace stdfs = std::filesystem;

namespace {

/// The pod's app has a terminal: the pod's console, which nspawn relays to
/// crt's pty, and crt to the user's terminal.
bool has_terminal(const pod::PodManifest& m) { return m.interactive && m.interactive_tty; }

void apply_launch_options(pod::PodManifest& m, const LaunchOptions& opts) {
  m.interactive = opts.interactive;
  // As nspawn's --console=autopipe decides: input from a pipe or a file
  // ends, which a terminal the app reads cannot pass on.
  m.interactive_tty = ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1;
  m.output_sockets = !has_terminal(m);
  m.terminal_to_journal = has_terminal(m);
  m.syscall_architectures = sandbox::kernel_syscall_architectures();
  m.stop_timeout = opts.stop_timeout;
  m.remove_at_end = opts.remove;
  if (!has_terminal(m)) return;
  const char* term = std::getenv("TERM");
  for (auto& app : m.apps) {
    bool has_term = std::any_of(app.env.begin(), app.env.end(), [](const auto& kv) { return kv.first == "TERM"; });
    if (!has_term) app.env.emplace_back("TERM", term != nullptr && *term != '\0' ? term : "xterm");
  }
}

void write_units(const PodDir& pod, const pod::PodManifest& m, std::chrono::milliseconds stop_timeout) {
  stdfs::path dir = pod.stage1_rootfs() / pod::kStage1UnitDir;
  fs::make_dirs(dir);
  for (const auto& [name, unit] : pod::pod_units(m, stop_timeout)) unit::write(unit, dir / name);
  // stage1 has the entries of root's: most pods need no copies of its own.
  UniqueFd root = fs::open_fd(pod.stage1_rootfs(), O_PATH | O_DIRECTORY);
  for (const auto& [file, content] : {std::pair{"passwd", pod::stage1_passwd(m)}, {"group", pod::stage1_group(m)}}) {
    if (pod::read_in_root(root.get(), std::string("/etc/") + file) != content)
      fs::write_file_atomic(pod.stage1_rootfs() / "etc" / file, content, 0644, fs::Durability::kCached);
  }
  // journald writes the pod's journal here; it exists before the pod starts
  // so that crt can follow it from the first line.
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

/// A unix socket of `type` bound to `path` (what was there is replaced);
/// `what` names it in errors.
UniqueFd bind_unix_socket(const std::string& path, int type, const std::string& what) {
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("creating " + what);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Error(what + ": its path is too long for a socket");
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) throw_errno("binding " + what);
  return fd;
}

/// The socket nspawn reports READY=1 to (nspawn --notify-ready=yes).
/// Root's alone, and each message comes with its sender's credentials: the
/// supervisor takes nspawn's word only (which process is the pod's init, to
/// be killed at a stop's end).
UniqueFd bind_notify_socket(const stdfs::path& path) {
  fs::make_dirs(path.parent_path(), 0755);  // fs::kRunDir for a long --dir
  std::string what = "the readiness socket " + quote(path.string());
  UniqueFd fd = bind_unix_socket(path.string(), SOCK_DGRAM | SOCK_NONBLOCK, what);
  if (::chmod(path.c_str(), 0600) < 0) throw_errno("making " + what + " root's alone");
  int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0)
    throw_errno("asking for senders' credentials on " + what);
  return fd;
}

/// A stream socket `name` in the pod's kPodEtc, listening. Bound through
/// the directory's fd: the pod directory's path may be too long for a
/// socket.
UniqueFd listen_in_pod_etc(const PodDir& pod, const char* name, const std::string& what) {
  UniqueFd dir = fs::open_fd(pod.etc_dir(), O_PATH | O_DIRECTORY);
  std::string named = what + " " + quote((pod.etc_dir() / name).string());
  UniqueFd fd = bind_unix_socket(mount::fd_path(dir.get()) + "/" + name, SOCK_STREAM, named);
  if (::listen(fd.get(), SOMAXCONN) < 0) throw_errno("listening on " + named);
  return fd;
}

/// The sockets the apps of a pod without the user's terminal connect their
/// stdio to: each app's stdout and stderr, app-exited's requests to flush
/// an app's output, and in an interactive pod its app's stdin. On a
/// terminal, the app's stdio is crt's pty (`terminal`), and only the flush
/// requests come through a socket.
struct StdioListeners {
  std::vector<UniqueFd> fds;
  StdioSockets sockets;

  StdioListeners(const PodDir& pod, const pod::PodManifest& m, const PodTerminal* terminal) {
    if (terminal != nullptr) {
      sockets.terminal = terminal->master();
      sockets.terminal_app = m.apps.at(0).name;
      sockets.terminal_uid = m.apps.at(0).uid.value_or(0);
      sockets.terminal_gid = m.apps.at(0).gid.value_or(0);
    } else {
      if (m.interactive) sockets.in = add(listen_in_pod_etc(pod, mount::kPodStdinSocket, "the app's stdin socket"));
      for (const auto& a : m.apps)
        for (bool is_stderr : {false, true}) {
          std::string name = mount::output_socket(a.name, is_stderr);
          std::string what =
              std::string("the ") + (is_stderr ? "stderr" : "stdout") + " socket of app " + quote(a.name);
          sockets.outputs.push_back({add(listen_in_pod_etc(pod, name.c_str(), what)), a.name, is_stderr,
                                     a.uid.value_or(0), a.gid.value_or(0)});
        }
    }
    sockets.flush = add(listen_in_pod_etc(pod, mount::kPodOutputFlushSocket, "the apps' output flush socket"));
    sockets.prefix_app_names = m.apps.size() > 1;
    sockets.to_journal = true;
    sockets.pod_killed = [dir = pod.path()] { return pod_was_killed(dir); };
  }

 private:
  int add(UniqueFd fd) {
    fds.push_back(std::move(fd));
    return fds.back().get();
  }
};

std::string console_log(const PodDir& pod) {
  try {
    return fs::read_file(pod.nspawn_log());
  } catch (const Error&) {
    return {};
  }
}

/// systemd's exit statuses for a service whose process failed before its
/// command ran (EXIT_CHDIR … EXIT_BPF): its exec, or the sandbox on the way.
bool failed_before_exec(const pod::AppExit& e) { return e.exit_code == "exited" && e.status >= 200 && e.status <= 245; }

/// Why an app's process failed before its command ran is in the pod's
/// journal, and crt shows it as the pod's error. A child of the pod's
/// systemd that could not reach the pod's journald (not up yet) wrote it
/// to the pod's console only: crt shows it from there. (With --debug or a
/// terminal, the console is the user's, who saw it.)
void show_start_errors_from_console(const PodDir& pod, const pod::PodManifest& m, const LaunchOptions& opts,
                                    const std::vector<pod::AppExit>& exits, const PodEnd& end,
                                    const MessageSink& messages) {
  if (opts.debug || has_terminal(m)) return;
  std::string console;
  for (const auto& e : exits) {
    if (!failed_before_exec(e)) continue;
    const auto& shown = end.start_errors_shown;
    if (std::find(shown.begin(), shown.end(), e.app) != shown.end()) continue;
    if (console.empty()) console = console_log(pod);
    std::vector<std::string> told;
    for (auto& line : console_lines_about(console, e.app + ".service")) {
      if (!repeats_exec_failure(line, told)) tell(messages, "pod: " + line);
      told.push_back(std::move(line));
    }
  }
}

/// The OOM kills of a pod's apps, from the kernel's log since the pod started.
struct OomWatch {
  KernelLog log;
  std::string pod_cgroup;  ///< cgroup::PodCgroup::relative()
};

/// An app that failed because the kernel's OOM killer killed its processes
/// ends with 137 like any SIGKILL: the kernel's log says which it was. What
/// the OOM killer did to each app, failed or not, is kept for crt status.
void report_oom_kills(const PodDir& pod, const pod::PodManifest& m, const std::vector<pod::AppExit>& exits,
                      OomWatch& oom, const MessageSink& messages) {
  std::vector<OomKill> kills = oom.log.oom_kills();
  if (kills.empty()) return;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& app : m.apps) {
    if (size_t n = count_oom_kills(kills, oom.pod_cgroup, app.name)) counts[app.name] = n;
    bool failed = std::any_of(exits.begin(), exits.end(),
                              [&](const pod::AppExit& e) { return e.app == app.name && e.status != 0; });
    if (!failed) continue;
    if (auto why = explain_oom_kills(kills, oom.pod_cgroup, app.name, app.memory_max)) tell(messages, *why);
  }
  if (counts.empty()) return;
  try {
    fs::write_file_atomic(pod.oom_kills_file(), json_text::dump(counts) + "\n", 0644, fs::Durability::kCached);
  } catch (const Error& e) {
    tell(messages, "warning: recording the apps' OOM kills: " + std::string(e.what()));
  }
}

/// Whether the pod was killed: by crt run (a second signal, its stop
/// timeout) or by a crt stop (--force, its timeout).
bool killed_pod(const PodDir& pod, const PodEnd& end) { return end.killed || pod_was_killed(pod.path()); }

/// The apps of a pod that was killed died with it by SIGKILL, before their
/// units could record how they ended. Once the pod had started its apps,
/// that is recorded for each app without a record (as the pod's doing, no
/// failure of the app's), and added to `exits`; returns their names.
std::vector<std::string> record_apps_killed_with_the_pod(const PodDir& pod, const pod::PodManifest& m,
                                                         const PodEnd& end, std::vector<pod::AppExit>& exits) {
  std::vector<std::string> killed;
  if (!stdfs::exists(pod.ready_file()) || !killed_pod(pod, end)) return killed;
  uint64_t seq = boottime_ns();
  for (const auto& app : m.apps) {
    if (std::any_of(exits.begin(), exits.end(), [&](const pod::AppExit& e) { return e.app == app.name; })) continue;
    pod::AppExit e = pod::app_exit_from_systemd(app.name, "killed", "KILL", "signal", seq);
    e.stopped_by_pod = true;
    pod::write_app_record(pod.status_dir(), e);
    exits.push_back(e);
    killed.push_back(quote(app.name));
  }
  return killed;
}

std::vector<pod::AppExit> read_app_exits_or_none(const stdfs::path& pod) noexcept {
  try {
    return read_app_exits(pod);
  } catch (const std::exception&) {
    return {};
  }
}

/// "web (exited 1)", "web (killed by SIGTERM)".
std::string app_end_text(const pod::AppExit& e) { return e.app + " (" + pod::how_it_ended(e) + ")"; }

/// The apps' ends recorded, for the unit's status: "C (exited 0), D (killed by SIGKILL)".
std::string ended_text(const std::vector<pod::AppExit>& exits) {
  std::string ended;
  for (const auto& e : exits) ended += (ended.empty() ? "" : ", ") + app_end_text(e);
  return ended;
}

/// What the pod does, now that `exits` have been recorded: "pod UUID
/// (machine NAME) running; apps: A B; ended: C (exited 0)", or "stopping".
std::string pod_status(const std::vector<pod::AppExit>& exits, const pod::PodManifest& m) noexcept {
  std::vector<std::string> apps, running;
  for (const auto& a : m.apps) apps.push_back(a.name);
  bool stopping = false;
  for (const auto& e : exits)
    if (pod::decide(m.exit_policy, apps, exits, e) != pod::PodAction::kContinue) stopping = true;
  std::string ended = ended_text(exits);
  for (const auto& a : apps)
    if (std::none_of(exits.begin(), exits.end(), [&](const pod::AppExit& e) { return e.app == a; }))
      running.push_back(a);
  std::string status = "pod " + m.uuid + " (machine " + m.machine_name() + ") " + (stopping ? "stopping" : "running");
  if (!stopping) {
    status += "; apps:";
    for (const auto& r : running) status += " " + r;
  }
  if (!ended.empty()) status += "; ended: " + ended;
  return status;
}

/// The unit's last status: how the pod ended ("status N", or crt's error),
/// with the apps' ends recorded. Not the last app's end alone: a pod
/// killed showed "running" to the end.
std::string pod_end_status(const std::vector<pod::AppExit>& exits, const pod::PodManifest& m, const std::string& how) {
  std::string status = "pod " + m.uuid + " (machine " + m.machine_name() + ") ended, " + how;
  if (std::string ended = ended_text(exits); !ended.empty()) status += "; ended: " + ended;
  return status;
}

/// `e`'s app ended as a stop ends it: while the pod was stopping (not an
/// end of its own before the stop), by the signal its unit's stop sends
/// (KillSignal=; SIGHUP too on a terminal) or exiting with 128 + it (as a
/// JVM does).
bool ended_by_a_stop(const pod::AppExit& e, const pod::PodManifest& m) {
  auto app = std::find_if(m.apps.begin(), m.apps.end(), [&](const pod::AppManifest& a) { return a.name == e.app; });
  if (app == m.apps.end() || e.exit_code.empty() || !e.during_pod_stop) return false;
  std::optional<int> sig = app->stop_signal.empty() ? SIGTERM : pod::signal_number(app->stop_signal);
  return (sig && e.status == 128 + *sig) || (has_terminal(m) && e.status == 128 + SIGHUP);
}

/// crt run's exit status; why it is what it is goes to `messages` where the
/// status alone does not say. Throws Interrupted where a stop asked for
/// ended the pod (die_of).
int exit_status(const PodDir& pod, const pod::PodManifest& m, const LaunchOptions& opts, const PodEnd& end,
                OomWatch& oom, const MessageSink& messages) {
  std::vector<pod::AppExit> exits = read_app_exits(pod.path());
  bool recorded_any = !exits.empty();  // by the apps' units
  std::vector<std::string> killed;
  try {
    killed = record_apps_killed_with_the_pod(pod, m, end, exits);
  } catch (const Error& e) {
    tell(messages, std::string("warning: recording the apps killed with the pod: ") + e.what());
  }
  if (!recorded_any) {
    // Stopped on request before any app ended: not a failure of crt's.
    if (end.stop_signal != 0) throw Interrupted(end.stop_signal);
    if (stdfs::exists(pod.ready_file())) {
      tell(messages, "the pod was killed before its apps ended");
      return 128 + SIGKILL;
    }
    if (stdfs::exists(pod.stop_requested_file())) {  // by crt stop
      tell(messages, "the pod was stopped before its apps started");
      throw Interrupted(SIGTERM, false);
    }
    std::string tail = console_tail(console_log(pod), 2000);
    throw Error("the pod ended before any app ran (systemd-nspawn exited with " +
                std::to_string(end.nspawn_status) + ")" + (tail.empty() ? "" : ":\n" + tail));
  }
  if (!killed.empty()) {
    std::string names;
    for (const auto& k : killed) names += (names.empty() ? "" : ", ") + k;
    tell(messages,
         "the pod was killed before " + std::string(killed.size() == 1 ? "app " : "apps ") + names + " ended");
  }
  show_start_errors_from_console(pod, m, opts, exits, end, messages);
  for (const auto& app : m.apps) {
    auto e = std::find_if(exits.begin(), exits.end(), [&](const pod::AppExit& x) { return x.app == app.name; });
    // With --rm, the pod's journal goes with the pod: no pointing at it.
    if (e == exits.end() && end.stop_signal == 0)
      tell(messages, killed_pod(pod, end) ? "the pod was killed before app " + quote(app.name) + " ended"
                     : m.remove_at_end    ? "app " + quote(app.name) + " did not run"
                                          : "app " + quote(app.name) + " did not run; see the pod's journal");
    // Its start failed (app-exited records "never ran" so): the reason is
    // the pod's error above (prepare-app's, say), and in its journal.
    if (e != exits.end() && e->exit_code.empty() && e->status != 0)
      tell(messages, m.remove_at_end ? "app " + quote(app.name) + " did not start"
                                     : "app " + quote(app.name) +
                                           " did not start; the pod's journal says why: "
                                           "journalctl -D " +
                                           quote(pod.journal_dir().string()));
  }
  // systemd gave up restarting an app: its last run's status alone would
  // not say so (and is 0 where that run ended well).
  for (const auto& e : exits)
    if (pod::hit_start_limit(e)) {
      auto app = std::find_if(m.apps.begin(), m.apps.end(), [&](const pod::AppManifest& a) { return a.name == e.app; });
      std::string policy = app != m.apps.end() ? " (--restart=" + app->restart + ")" : "";
      tell(messages, "app " + quote(e.app) + " is not restarted any more" + policy + ": " + pod::start_limit_text(e) +
                         "; its last run " + pod::how_it_ended(e));
    }
  report_oom_kills(pod, m, exits, oom, messages);
  const pod::AppExit* failed = pod::first_failure(exits);
  // The pod ended by a stop asked of it (crt's signal, crt stop, machinectl
  // poweroff), its apps by that stop: crt ends by the signal, as asked,
  // rather than with the app's status, which is also what an app killed by
  // SIGTERM by itself gives (and a failure to a unit). Also after an app
  // that took the stop and exited 0: a shell stops its loop only when its
  // child died of the ^C.
  if (failed != nullptr ? ended_by_a_stop(*failed, m) : end.stop_signal != 0)
    throw Interrupted(end.stop_signal != 0 ? end.stop_signal : SIGTERM, false);  // crt stop, machinectl: SIGTERM
  if (failed != nullptr) return failed->status;
  // Killed (crt stop --force, a stop past its timeout) while an app still
  // ran, or had not started: no success, also when the others had ended
  // well.
  bool unrecorded = std::any_of(m.apps.begin(), m.apps.end(), [&](const pod::AppManifest& app) {
    return std::none_of(exits.begin(), exits.end(), [&](const pod::AppExit& x) { return x.app == app.name; });
  });
  return killed.empty() && !(unrecorded && killed_pod(pod, end)) ? 0 : 128 + SIGKILL;
}

/// Without a host systemd the pod gets a cgroup crt makes; with one, the
/// pod is a machine and systemd owns its cgroup.
cgroup::PodCgroup pod_cgroup(const HostMode& host, const pod::PodManifest& m) {
  if (!host.systemd) return cgroup::PodCgroup::create(host.layout, m.machine_name());
  return cgroup::PodCgroup::create_under_host_systemd(host.layout, payload_cgroup(host, m.machine_name()));
}

Spawn nspawn_spawn(const PodDir& pod, const pod::PodManifest& m, const LaunchOptions& opts, const HostMode& host,
                   const cgroup::PodCgroup& cg, const SignalBlock& signals, const std::string& netns,
                   std::optional<sandbox::PodFilter> filter, PodTerminal* terminal) {
  NspawnOptions nopts;
  nopts.network_namespace_path = netns;
  nopts.stage1_rootfs = pod.stage1_rootfs();
  nopts.debug = opts.debug;
  bool tty = has_terminal(m);
  nopts.console = tty ? Console::kInteractive : (opts.debug ? Console::kReadOnly : Console::kPassive);
  nopts.console_colors = tty || (opts.debug && ::isatty(STDERR_FILENO) == 1);
  nopts.extra = cg.nspawn_args();

  Spawn s;
  s.argv = nspawn_command(m, nopts);
  std::vector<std::string> add = {"NOTIFY_SOCKET=" + pod.notify_socket().string()};
  if (!opts.debug) add.emplace_back("SYSTEMD_COLORS=0");
  // nspawn's inner child writes its warnings to the pod's console, which an
  // interactive pod shares with the user's terminal.
  if (tty && !opts.debug) add.emplace_back("SYSTEMD_LOG_LEVEL=crit");
  s.seccomp = std::move(filter);
  // nspawn's own filter is the same as crt's: it need not compile it again.
  // (It then also ignores SystemCallFilter= of .nspawn files, which crt's
  // pods, named by UUID, do not have.) A SYSTEMD_SECCOMP of the user's is
  // dropped: without crt's filter, nspawn's is needed.
  if (s.seccomp) add.emplace_back("SYSTEMD_SECCOMP=0");
  s.env = environment_with({"SYSTEMD_COLORS", "NOTIFY_SOCKET", "SYSTEMD_SECCOMP"}, add);
  s.cgroup = cg.host_managed() ? nspawn_start_cgroup(host) : cg.open_entry();
  // Signals for the terminal's foreground (a hangup) are crt's to pass on:
  // nspawn's stdin and stdout are never the user's terminal (with --debug,
  // its stderr is).
  s.own_process_group = true;
  s.mask = signals.saved();
  if (terminal != nullptr) {
    // nspawn relays the pod's console to crt's pty; crt to the user's terminal.
    s.stdout_fd = terminal->take_slave();
    s.stdin_fd = UniqueFd(::fcntl(s.stdout_fd.get(), F_DUPFD_CLOEXEC, 3));
    if (!s.stdin_fd) throw_errno("duplicating the app's pseudo-terminal");
  }
  if (!tty) s.stdin_fd = fs::open_fd("/dev/null", O_RDONLY);
  if (!opts.debug) {
    s.stderr_fd = fs::open_fd(pod.nspawn_log(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (!tty) s.stdout_fd = fs::open_fd(pod.nspawn_log(), O_WRONLY | O_APPEND);
  } else if (!tty) {
    // The pod's console (its systemd's debug messages) is diagnostics, like
    // crt's own: stdout carries the apps' output alone, and a reader that
    // goes away does not end the pod's console.
    s.stdout_fd = UniqueFd(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!s.stdout_fd) throw_errno("duplicating stderr for the pod's console");
  }
  return s;
}

/// The pod as a machine of the host's systemd: crt, not nspawn, registers it
/// so that machined records crt as the service running it.
class PodMachine {
 public:
  PodMachine(const HostMode& host, const PodDir& pod, const pod::PodManifest& m, MessageSink messages)
      : host_(host), pod_(pod), m_(m), messages_(std::move(messages)) {
    if (host.systemd) bus_.emplace(dbus::Bus::system());
  }

  /// Outside any service, the pod gets a scope of its own in machine.slice,
  /// as machined would make it: nspawn (`pid`, waiting on its start gate)
  /// is moved into it.
  bool needs_scope() const { return host_.systemd && !host_.in_unit; }

  void make_scope(pid_t pid) {
    dbus::TransientScope sc;
    sc.name = cgroup::PodCgroup::scope_name(m_.machine_name());
    sc.description = "crt pod " + m_.uuid;
    sc.slice = "machine.slice";
    sc.pids = {static_cast<uint32_t>(pid)};
    sc.delegate = true;
    sc.accounting = true;
    sc.collect = true;
    sc.device_policy = "closed";
    sc.device_allow = pod::host_unit_devices(false);
    dbus::SystemdManager sm(*bus_);
    dbus::MachineManager machines(*bus_);
    // The scope is named after the machine: one that exists is a running
    // machine's (a pod of that name in another state directory, say), or
    // that of a pod of this name that just ended, which systemd removes a
    // moment after it sees it empty: that one is waited for.
    auto scope_exists = [&] {
      std::optional<dbus::UnitState> st = sm.loaded_unit_state(sc.name);
      return st && st->active_state != "inactive";
    };
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);;) {
      if (machines.get_machine(m_.machine_name())) throw cgroup::machine_name_taken(m_.machine_name());
      if (!scope_exists()) break;
      if (std::chrono::steady_clock::now() > until) throw cgroup::machine_name_taken(m_.machine_name());
      ::usleep(50'000);
    }
    std::string result = sm.start_transient_scope(sc, std::chrono::seconds(30));
    if (result != "done") throw Error("making the pod's scope " + quote(sc.name) + ": its start job " + result);
  }

  /// Waits until the host's systemd is done with the pod's scope (it has
  /// removed its cgroup), `timeout` at most; false if it is not.
  bool wait_scope_gone(std::chrono::milliseconds timeout) {
    dbus::SystemdManager sm(*bus_);
    return runtime::wait_scope_gone(sm, cgroup::PodCgroup::scope_name(m_.machine_name()), timeout);
  }

  /// Registers the pod once nspawn reports its init. A failure leaves the
  /// pod running, only without machinectl.
  bool register_leader(pid_t leader) noexcept {
    if (!bus_) return false;
    try {
      dbus::MachineRegistration r;
      r.name = m_.machine_name();
      r.uuid = m_.uuid;
      r.service = "crt";
      r.leader = static_cast<uint32_t>(leader);
      r.root_directory = pod_.stage1_rootfs().string();
      dbus::MachineManager machines(*bus_);
      if (host_.in_unit) forget_earlier_runs_machines(machines, host_.unit, messages_);
      machines.register_machine(r);
      registered_ = true;
    } catch (const std::exception& e) {
      tell(messages_, std::string("warning: ") + e.what());
    }
    return registered_;
  }

  /// After nspawn exited: machined forgets the pod now, not when the unit
  /// crt runs in ends.
  void unregister() noexcept {
    if (!registered_) return;
    try {
      dbus::MachineManager(*bus_).unregister_machine(m_.machine_name());
    } catch (const std::exception& e) {
      tell(messages_, std::string("warning: ") + e.what());
    }
  }

 private:
  const HostMode& host_;
  const PodDir& pod_;
  const pod::PodManifest& m_;
  MessageSink messages_;
  std::optional<dbus::Bus> bus_;
  bool registered_ = false;
};

/// Stops a pod that could not be completed (its apps have not started),
/// reaps nspawn and removes its journal link. Its systemd may be too early
/// in its boot to act on nspawn's orderly stop; nspawn stops the pod at once
/// on a second SIGTERM.
void stop_unfinished_pod(const PodDir& pod, pid_t pid) {
  auto exited_within = [pid](int ms) {
    for (int i = 0; i < ms / 10; ++i) {
      if (::waitpid(pid, nullptr, WNOHANG) != 0) return true;
      ::usleep(10000);
    }
    return false;
  };
  ::kill(pid, SIGTERM);
  if (!exited_within(1000)) {
    ::kill(pid, SIGTERM);
    if (!exited_within(10000)) {
      ::kill(pid, SIGKILL);
      (void)wait_child(pid, nullptr);
    }
  }
  remove_journal_link(pod.path(), pod.uuid());
}

/// Attaches the pod's networks while nspawn boots it, then writes the files
/// its apps see but hosts, which it returns (prepare-app holds the apps back
/// until it is there). If that fails, the pod is stopped before the error
/// goes on.
std::string start_network(const PodDir& pod, const pod::PodManifest& m, net::PodNetwork& network, pid_t nspawn,
                          const MessageSink& messages) {
  try {
    network.attach();
    net::PodEtc etc = net::write_pod_etc(pod.etc_dir(), m, network.results());
    for (const auto& w : etc.warnings) tell(messages, "warning: " + w);
    check_interrupted();
    return etc.hosts;
  } catch (...) {
    stop_unfinished_pod(pod, nspawn);
    throw;
  }
}

}  // namespace

int launch_pod(PreparedPod& p, const LaunchOptions& opts, const RunContext& ctx, const SignalBlock& signals,
               PodRollback::Mode rollback_mode) {
  auto trace = [&](std::string_view what) {
    if (ctx.trace) ctx.trace(what);
  };
  PodDir& pod = p.dir;
  pod::PodManifest& m = p.manifest;
  PodRollback rollback(pod, rollback_mode, ctx.messages);
  ::unlink(pod.stop_requested_file().c_str());  // from an earlier start of a prepared pod
  apply_launch_options(m, opts);
  // What the apps write reaches the disk only by writeback, or at a clean
  // shutdown: crt export warns about such a pod after the host restarted.
  bool unsynced = std::any_of(m.apps.begin(), m.apps.end(),
                              [&](const pod::AppManifest& a) { return mount::has_volatile_marker(pod.app_work(a.name)); });
  m.unsynced_boot = unsynced ? boot_id() : "";
  pod.write_manifest(m);
  UniqueFd starting;
  std::optional<PodTerminal> terminal;
  std::optional<StdioListeners> stdio;
  with_context("starting pod " + m.uuid, [&] {
    write_units(pod, m, opts.stop_timeout);
    isolate_nspawn_run_dir();
    starting = listen_in_pod_etc(pod, mount::kPodStarterSocket, "the pod's start socket");
    if (m.terminal_to_journal) terminal.emplace(STDIN_FILENO, STDOUT_FILENO);
    if (m.output_sockets || m.terminal_to_journal) stdio.emplace(pod, m, terminal ? &*terminal : nullptr);
  });
  trace("wrote the units");
  check_interrupted();

  // Read first: a bad file fails the pod before anything is set up.
  std::optional<sandbox::PodFilter> filter = sandbox::find_pod_filter(ctx.data_dir);
  trace((filter ? "read the pod's system call filter from " : "no ") + sandbox::pod_filter_path(ctx.data_dir).string() +
        (filter ? "" : ": nspawn compiles its own filter"));

  HostMode host = detect_host();
  trace(host.systemd ? (host.in_unit ? "host runs systemd; the pod registers with unit " + host.unit
                                     : "host runs systemd; the pod gets scope " + cgroup::PodCgroup::scope_name(m.machine_name()))
                     : std::string("no systemd on the host: machined integration is off"));
  if (host.in_unit && !host.unit_limits_devices && host.unified)
    tell(ctx.messages, "warning: unit " + quote(host.unit) +
                           " has no DevicePolicy=: on this cgroup v2 host, unless its slice has one, nothing keeps its "
                           "pod's apps from the host's devices (give it DevicePolicy=closed and the DeviceAllow= "
                           "lines of crt@.service)");
  PodMachine machine(host, pod, m, ctx.messages);
  UnitCgroupRoot unit_cgroup(host);
  // A crt killed while it makes the cgroup of a pod named by its UUID would
  // leave it for good (no later pod has that name): noted first, gc removes
  // what is empty of it. A pod of a name of its own has nothing noted: the
  // next pod of that name makes such leftovers anew.
  if (!host.systemd && m.name.empty())
    write_cgroup_record(pod.path(), {cgroup::PodCgroup::relative_path(m.machine_name()), CgroupRecord::kBeingMade});
  cgroup::PodCgroup cg = pod_cgroup(host, m);
  if (!host.systemd) restrict_pod_devices(host, cg, ctx.messages);
  // From here on: older records of the kernel's log are of other pods.
  OomWatch oom{KernelLog::from_now(), cg.relative()};
  // What crt made, to clean up after (the host's systemd cleans up after
  // its own): by the time this pod's end is cleaned up, a pod of the same
  // name (of another state directory) may have made the cgroup anew.
  const std::string identity = host.systemd ? "" : cg.identity();
  struct CgroupCleanup {
    const cgroup::PodCgroup& cg;
    const std::string& identity;
    bool done = false;
    /// False if some of it could not be removed.
    bool now() {
      bool removed = done || (identity.empty() ? cg.remove() : cg.remove_same(identity));
      done = true;
      return removed;
    }
    ~CgroupCleanup() { now(); }
  } cg_cleanup{cg, identity};
  // Where the pod runs, for crt enter and inspect; and that identity.
  write_cgroup_record(pod.path(), {cg.relative(), identity});
  trace("created cgroup " + cg.relative());

  if (!m.ports.empty()) {
    // A pod whose crt was killed still forwards its host ports (its DNAT
    // rules come first): a new pod's would take nothing. Its network serves
    // nothing, and gc would tear it down anyway.
    std::vector<std::string> failed;
    for (const auto& uuid : teardown_dead_pod_networks(ctx.state_dir, failed, ctx.messages, {}, opts.plugin_time_limit))
      trace("tore down the network of pod " + uuid + ", which no longer runs");
    for (const auto& f : failed) tell(ctx.messages, "warning: " + f);
  }
  // Under a unit, each program of the network's teardown renews the time
  // the unit waits for crt's stop (or, before one, for its end), whether
  // the stop came before the teardown or comes while it runs.
  net::PodNetwork network = net::PodNetwork::create(
      pod.path(), pod.lock().fd(), m,
      {ctx.config_dir, ctx.trace, ctx.messages,
       [state_dir = ctx.state_dir](const std::string& id) { return lock_pod_of_network(state_dir, id); },
       opts.plugin_time_limit, cleanup_renewal(service_notifier()), ctx.state_dir});
  // Removed however the start ends: in fs::kRunDir nothing else would.
  struct UnlinkAtEnd {
    std::string path;
    ~UnlinkAtEnd() { ::unlink(path.c_str()); }
  } notify_path{pod.notify_socket()};
  UniqueFd notify = bind_notify_socket(notify_path.path);
  Spawn s = nspawn_spawn(pod, m, opts, host, cg, signals, network.namespace_path(), std::move(filter),
                         terminal ? &*terminal : nullptr);
  s.keep_fds = {pod.lock().fd()};  // the pod stays locked (= running) while nspawn lives
  if (stdio) {
    // An app's ExecStopPost= connects to its stdio sockets too: if crt has
    // died, the connection waits in nspawn's copy of the listener (for
    // crt's watch to accept, if there is one), and the app's end is still
    // recorded (it would fail with 209, EXIT_STDOUT).
    if (stdio->sockets.in >= 0) s.keep_fds.push_back(stdio->sockets.in);
    for (const auto& o : stdio->sockets.outputs) s.keep_fds.push_back(o.fd);
  }
  // nspawn waits at its gate until crt's watch for its own death is there.
  bool watch_crt = StopOnCrtDeath::supported();
  if (watch_crt) s.parent_death_signal = 0;
  UniqueFd gate;
  if (watch_crt || machine.needs_scope()) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("creating a pipe");
    s.start_gate = UniqueFd(fds[0]);
    gate = UniqueFd(fds[1]);
    s.start_gate_peer = gate.get();
  }
  pid_t pid = spawn(s);
  s.start_gate = UniqueFd();
  // nspawn holds the pty's slave alone: its master reads EOF once nspawn ends.
  s.stdin_fd = UniqueFd();
  s.stdout_fd = UniqueFd();
  std::optional<StopOnCrtDeath> crt_death;
  if (gate) {
    try {
      if (watch_crt) {
        // A pod whose crt dies has its network torn down once it has ended,
        // as crt would have (below), and a pod of --rm is removed then.
        std::vector<std::string> once_ended;
        if (!network.namespace_path().empty() || opts.remove)
          once_ended = {"--dir=" + ctx.state_dir.string(), std::string(kTeardownAfterCrtCommand), pod.uuid()};
        if (opts.remove) once_ended.emplace_back(kTeardownAfterCrtRemoveOption);
        crt_death.emplace(pid, pod.stop_requested_file(), opts.stop_timeout, stdio ? stdio->sockets.flush : -1,
                          pod.lock().fd(), once_ended);
        if (stdio)
          for (const auto& o : stdio->sockets.outputs) crt_death->keep_output_listener(o.fd, o.app, o.uid, o.gid);
        network.share_reservations({[&crt_death](int fd) {
                                      if (crt_death) crt_death->keep_port_reservation(fd);
                                    },
                                    [&crt_death](int fd) {
                                      if (crt_death) crt_death->drop_port_reservation(fd);
                                    }});
      }
      if (machine.needs_scope()) {
        machine.make_scope(pid);
        // The pod's cgroup is in the scope, which systemd removes whole once
        // nspawn has ended: crt removing part of it at that moment can make
        // systemd's removal stop short, leaving the scope's cgroup behind
        // with nothing to remove it.
        cg_cleanup.done = true;
        cg.make_host_managed_dirs();
      }
    } catch (...) {
      gate = UniqueFd();  // nspawn gives up without executing
      crt_death.reset();
      (void)wait_child(pid, nullptr);
      throw;
    }
    if (::write(gate.get(), "x", 1) != 1) {
      // The child gave up before its gate (spawn()): say why, and reap it.
      int err = errno;
      int st = 0;
      crt_death.reset();
      if (wait_child(pid, &st) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 126)
        throw Error("starting systemd-nspawn: its process could not join the pod's cgroup " + quote(cg.relative()));
      throw_errno(err, "starting systemd-nspawn");
    }
    gate = UniqueFd();
    if (machine.needs_scope())
      trace("moved systemd-nspawn into scope " + cgroup::PodCgroup::scope_name(m.machine_name()));
  }
  trace("started systemd-nspawn (pid " + std::to_string(pid) + ")");
  // crt stop finds the pod's nspawn from here.
  try {
    fs::write_file_atomic(pod.pid_file(), std::to_string(pid) + "\n", 0644, fs::Durability::kCached);
  } catch (...) {
    stop_unfinished_pod(pod, pid);
    throw;
  }
  std::string hosts = start_network(pod, m, network, pid, ctx.messages);
  trace("wrote the apps' resolv.conf and hostname");
  rollback.commit();

  SuperviseOptions sopts;
  sopts.nspawn_pid = pid;
  sopts.notify_fd = notify.get();
  sopts.ready_file = pod.ready_file();
  // Which pod a unit runs, for systemctl status (its UUID is what crt
  // status, logs, enter and stop take), and how its apps are doing.
  sopts.pod_status = [&]() noexcept { return pod_status(read_app_exits_or_none(pod.path()), m); };
  sopts.status_dir = pod.status_dir();
  // Without a terminal the journal has the pod's own errors; with one, they
  // are on it (and, once the app runs, in its journal copy).
  if (!has_terminal(m)) sopts.journal_dir = pod.journal_dir();
  if (stdio) sopts.stdio = stdio->sockets;
  if (terminal)
    sopts.stdio->terminal_sender = [&cg, app = m.apps.at(0).name]() noexcept -> pid_t {
      try {
        return app_main_pid(cg, app).value_or(0);
      } catch (const std::exception&) {
        return 0;  // its cgroup came or went meanwhile: asked again with the next output
      }
    };
  sopts.journal_has_app_output = !m.output_sockets && !m.terminal_to_journal;
  if (terminal)
    sopts.on_window_change = [&terminal, pid] {
      // nspawn gives its own pty the size of its stdout, crt's pty, on SIGWINCH.
      terminal->copy_size();
      ::kill(pid, SIGWINCH);
    };
  sopts.messages = ctx.messages;
  sopts.stop_timeout = opts.stop_timeout;
  sopts.stop_cleanup = cleanup_time(opts.plugin_time_limit);
  sopts.pod_dir = pod.path();
  for (const auto& a : m.apps) sopts.apps.push_back(a.name);
  sopts.pod_ending = [&]() noexcept {
    // app-exited records a failed app before its OnFailure= job ends, so
    // before the pod's systemd can count its start as done.
    std::vector<pod::AppExit> exits = read_app_exits_or_none(pod.path());
    for (const auto& e : exits)
      if (e.status != 0 && pod::decide(m.exit_policy, sopts.apps, exits, e) != pod::PodAction::kContinue) return true;
    return false;
  };
  if (crt_death && sopts.stdio)
    sopts.stdio->on_output = [&crt_death](int conn, const OutputSocket& out) {
      crt_death->keep_output(conn, out.app, out.uid, out.gid);
    };
  sopts.on_leader = [&](pid_t leader) {
    if (crt_death) crt_death->set_pod_leader(leader);
    point_journal_link_at_upper(pod);  // nspawn made it before it started the pod's init
    if (machine.register_leader(leader))
      trace("registered machine " + m.machine_name() + " (leader pid " + std::to_string(leader) + ")");
    warn_of_missing_controllers(leader, m, ctx.messages);
  };
  sopts.prefix_app_names = m.apps.size() > 1;
  // The apps start once hosts is there, written when the pod's systemd
  // takes the orderly stop nspawn passes on if crt dies (a prepare-app
  // waits for hosts, or its init blocks the signal; see
  // mount::kPodStarterSocket).
  sopts.starter_fd = starting.get();
  sopts.on_starter = [&] {
    fs::write_file_atomic(pod.etc_dir() / mount::kPodEtcLastFile, hosts, 0644, fs::Durability::kCached);
    starting = UniqueFd();
    trace("the pod takes an orderly stop: wrote the apps' hosts");
  };
  PodEnd end;
  try {
    // Keys go to the app as they are typed, ^C included (nspawn did this to
    // the user's terminal before crt had a pty between them). Not earlier:
    // until now ^C stops crt's start.
    if (terminal) terminal->raw();
    end = supervise(sopts);
  } catch (...) {
    // Its watches could not be set up (no inotify instance left, say): the
    // pod is stopped, and waited for, before the cleanup that follows
    // tears down its network and cgroup.
    terminal.reset();
    stop_unfinished_pod(pod, pid);
    throw;
  }
  terminal.reset();  // the user's terminal as it was, for what crt says next
  // Its exit (a process of crt's size) overlaps the cleanup below, rather
  // than crt waiting for it at the end.
  if (crt_death) crt_death->cancel();
  trace("systemd-nspawn exited with " + std::to_string(end.nspawn_status));
  machine.unregister();
  remove_journal_link(pod.path(), pod.uuid());
  // A unit told to stop crt waits for this cleanup from now on, whatever
  // the pod's stop took of the time crt asked for (supervisor.cpp).
  if (end.stop_signal != 0)
    sd_notify(0,
              ("EXTEND_TIMEOUT_USEC=" +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::microseconds>(cleanup_time(opts.plugin_time_limit)).count()))
                  .c_str());
  try {
    network.teardown();
  } catch (const Error& e) {
    // The apps' exit status is still what crt run reports.
    tell(ctx.messages, std::string("warning: ") + e.what() + "; 'crt gc' will try again");
  }
  if (machine.needs_scope()) {
    // Its v1 directories of controllers systemd does not manage are crt's
    // to remove, once systemd is done with the rest.
    if (!host.unified) {
      std::string scope = quote(cgroup::PodCgroup::scope_name(m.machine_name()));
      std::string warning;
      try {
        if (!machine.wait_scope_gone(std::chrono::seconds(3)))
          warning = "the pod's scope " + scope +
                    " was still active 3 s after the pod ended; its v1 cgroup directories stay until 'crt gc'";
        else if (!cgroup::PodCgroup(host.layout, cgroup::PodCgroup::relative_path(m.machine_name())).remove_empty_v1())
          warning = "the v1 cgroup directories of the pod's scope " + scope +
                    " could not be removed (processes still in them?); 'crt gc' will try again";
      } catch (const Error& e) {
        warning = e.what() + ("; the v1 cgroup directories of the pod's scope " + scope + " stay until 'crt gc'");
      }
      if (!warning.empty()) tell(ctx.messages, "warning: " + warning);
    }
    trace("the host's systemd removes the pod's scope");
  } else if (cg_cleanup.now()) {
    trace("removed the pod's cgroup");
  } else {
    tell(ctx.messages, "warning: the pod's cgroup " + quote(cg.relative()) +
                           " could not be removed (processes still in it?); 'crt gc' will try again");
  }
  if (std::optional<std::string> why = unit_cgroup.restore())
    tell(ctx.messages, "warning: the controllers nspawn enabled in the cgroup of unit " + quote(host.unit) +
                           " could not be disabled (" + *why + "): its next command may fail to start");
  if (!end.error.empty()) {
    tell_pod_end(pod_end_status(read_app_exits_or_none(pod.path()), m, end.error), false);
    throw Error(end.error);
  }
  int status = 0;
  try {
    status = exit_status(pod, m, opts, end, oom, ctx.messages);
  } catch (const std::exception& e) {
    // The pod ended before an app ran, or a stop came before: said so.
    std::string why = e.what();
    tell_pod_end(pod_end_status(read_app_exits_or_none(pod.path()), m, why.substr(0, why.find('\n'))), false);
    throw;
  }
  bool started_now = false;
  if (status == 0 && !stdfs::exists(pod.ready_file())) {
    // Its apps all ended well before its systemd was ready: it did start
    // (crt status --wait-ready, the unit crt runs in).
    try {
      fs::write_file_atomic(pod.ready_file(), "", 0644, fs::Durability::kCached);
    } catch (const Error& e) {
      tell(ctx.messages, std::string("warning: ") + e.what());
    }
    started_now = true;
  }
  tell_pod_end(pod_end_status(read_app_exits_or_none(pod.path()), m, "status " + std::to_string(status)), started_now);
  return status;
}

}  // namespace crt::runtime
