// crt enter: a command inside a running app takes on all of the app's
// sandbox, checked against the app's own process in /proc.

#include <signal.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "common/fs.hpp"
#include "pod_fixture.hpp"
#include "runtime/images.hpp"
#include "sandbox/pod_filter.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;

class EnterTest : public PodTest {
 protected:
  /// Starts a pod whose app "busybox" sleeps, with `flags`; waits for it.
  void start(const std::vector<std::string>& flags, const std::vector<std::string>& more_apps = {}) {
    std::vector<std::string> args = {"busybox"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "/bin/sleep", "60"});
    args.insert(args.end(), more_apps.begin(), more_apps.end());
    start_run(args, "sleep");
  }
  /// Starts a pod of crt run's `args`; waits until its app "busybox" runs
  /// `comm`, and `ready` (if given) holds of its PID.
  void start_run(const std::vector<std::string>& args, const std::string& comm,
                 const std::function<bool(pid_t)>& ready = {}) {
    std::vector<std::string> run = {"run", "--uuid-file-save=" + dir_ + "/uuid"};
    run.insert(run.end(), args.begin(), args.end());
    pod_ = std::make_unique<Process>(
        crt_argv(run), RunOptions{.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = true});
    uuid_ = wait_uuid(dir_ + "/uuid");
    ASSERT_FALSE(uuid_.empty());
    for (int i = 0; i < 500; ++i) {
      app_pid_ = wait_app_pid(uuid_, "busybox");
      if (app_pid_ > 0 && read_file("/proc/" + std::to_string(app_pid_) + "/comm") == comm + "\n" &&
          (!ready || ready(app_pid_)))
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "the app did not start";
  }
  void TearDown() override {
    if (pod_) {
      crt({"stop", uuid_});
      pod_->wait();
    }
    PodTest::TearDown();
  }
  /// Runs `script` in the app through crt enter; the script's pid is $$.
  Result enter(const std::vector<std::string>& cmd, const std::vector<std::string>& opts = {}) {
    std::vector<std::string> args = {"enter"};
    args.insert(args.end(), opts.begin(), opts.end());
    args.push_back(uuid_);
    args.insert(args.end(), cmd.begin(), cmd.end());
    return crt(args);
  }
  std::string app_status(const std::string& key) { return proc_status(app_pid_, key); }
  /// The filters the tests run under (a container's), which crt and what
  /// it enters inherit.
  static size_t own_filters() { return std::stoul(proc_status(::getpid(), "Seccomp_filters")); }
  std::unique_ptr<Process> pod_;
  std::string uuid_;
  pid_t app_pid_ = -1;
};

TEST_F(EnterTest, TakesOnTheAppsIdentityAndSandbox) {
  start({"--user=33", "--group=33", "--environment=SECRET_SAUCE=42", "--working-dir=/tmp"});
  Result r = enter({"/bin/sh", "-c",
                    "id -u; id -g; pwd; echo $SECRET_SAUCE; grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("33\n33\n/tmp\n42\n"));
  EXPECT_THAT(r.out, HasSubstr("CapBnd:\t" + app_status("CapBnd") + "\n"));
  EXPECT_THAT(r.out, HasSubstr("CapEff:\t" + app_status("CapEff") + "\n"));
  EXPECT_THAT(r.out, HasSubstr("NoNewPrivs:\t" + app_status("NoNewPrivs") + "\n"));
  EXPECT_THAT(r.out, HasSubstr("Seccomp:\t2\n"));
  // Under the filter over the whole pod as well as the app's own, and its
  // namespace filter (RestrictNamespaces=): no namespaces of its own.
  auto pod_filter = sandbox::read_pod_filter(sandbox::pod_filter_path(runtime::data_dir_of(crt_bin_)));
  size_t pod_programs = pod_filter.programs.size();
  r = enter(
      {"/bin/sh", "-c", "grep Seccomp_filters /proc/self/status; unshare -U true || unshare -n true || echo no-ns"});
  EXPECT_EQ(r.out, "Seccomp_filters:\t" + std::to_string(own_filters() + pod_programs + 2) + "\nno-ns\n");
  EXPECT_THAT(r.err, HasSubstr("Operation not permitted"));
}

// A root app runs without no_new_privs (the pod's systemd loads its filter
// with CAP_SYS_ADMIN), so its setuid programs (su, ping with file
// capabilities) work; so they do in what crt enter runs: it loads the
// filters before it gives up the capability, and sets no_new_privs only
// where the app has it (a user's, above).
TEST_F(EnterTest, NoNewPrivsIsTheAppsAlsoWhereTheAppHasNone) {
  start_run({"--net=none", "busybox", "--", "/bin/sleep", "60"}, "sleep");
  ASSERT_EQ(app_status("NoNewPrivs"), "0");
  Result r = enter({"/bin/sh", "-c", "grep -E '^(NoNewPrivs|Seccomp|CapBnd):' /proc/self/status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "CapBnd:\t" + app_status("CapBnd") + "\nNoNewPrivs:\t0\nSeccomp:\t2\n");
}

TEST_F(EnterTest, WithoutThePodsFilterFileSaysSo) {
  start({});
  // A crt whose data directory has no pod-seccomp.bpf.
  std::filesystem::create_directories(dir_ + "/prefix/bin");
  std::filesystem::create_directories(dir_ + "/prefix/lib/crt");
  std::filesystem::copy_file(crt_bin_, dir_ + "/prefix/bin/crt");
  Result r = run({dir_ + "/prefix/bin/crt", "--dir=" + dir_, "enter", uuid_, "/bin/sh", "-c",
                  "grep Seccomp_filters /proc/self/status"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Seccomp_filters:\t" + std::to_string(own_filters() + 2) + "\n");
  EXPECT_THAT(r.err, HasSubstr("crt: warning: " + dir_ +
                               "/prefix/lib/crt/pod-seccomp.bpf is missing: the command "
                               "gets the app's system call filter, not the pod's\n"));
}

TEST_F(EnterTest, TakesOnTheAppsResourceLimitsAndOomScore) {
  start({"--oom-score-adj=321"});
  auto line = [](const std::string& limits, const std::string& name) {
    size_t at = limits.find(name);
    return at == std::string::npos ? std::string() : limits.substr(at, limits.find('\n', at) - at);
  };
  std::string app_limits = read_file("/proc/" + std::to_string(app_pid_) + "/limits");
  Result r = enter({"/bin/sh", "-c", "cat /proc/self/oom_score_adj /proc/self/limits"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 4), "321\n");
  for (const char* name : {"Max open files", "Max processes", "Max core file size", "Max locked memory"})
    EXPECT_EQ(line(r.out, name), line(app_limits, name)) << name;
}

TEST_F(EnterTest, JoinsTheAppsNamespacesAndCgroup) {
  start({});
  Result r = enter({"/bin/sh", "-c", "cat /proc/self/cgroup; ls -l /proc/self/ns/ | sed 's/.* \\([a-z_]*\\) -> /\\1 /'"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string app = std::to_string(app_pid_);
  for (const char* kind : {"mnt", "pid", "uts", "ipc", "net", "cgroup"}) {
    std::string ns = std::filesystem::read_symlink("/proc/" + app + "/ns/" + kind).string();
    EXPECT_THAT(r.out, HasSubstr(std::string(kind) + " " + ns + "\n")) << kind;
  }
  EXPECT_THAT(r.out, HasSubstr("/system.slice/busybox.service\n"));
  // In every hierarchy (v1 controllers, name=systemd, cgroup2), not just one.
  r = enter({"/bin/sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/$(pidof sleep)/cgroup"});
  ASSERT_EQ(r.status, 0) << r.err;
  size_t sep = r.out.find("---\n");
  ASSERT_NE(sep, std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(0, sep), r.out.substr(sep + 4));
}

TEST_F(EnterTest, CannotExceedTheAppsCapabilitiesOrFilter) {
  start({"--caps-retain=CAP_NET_BIND_SERVICE", "--seccomp=mode=remove,mkdir,mkdirat"});
  Result r = enter({"/bin/sh", "-c", "grep CapBnd /proc/self/status; chown 33 /tmp 2>&1; mkdir /x 2>&1"});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("CapBnd:\t0000000000000400\n"));
  EXPECT_THAT(r.out, HasSubstr("chown: /tmp: Operation not permitted"));
  EXPECT_THAT(r.out, HasSubstr("mkdir: can't create directory '/x': Operation not permitted"));
}

// An app allowed user namespaces can put its main process in one of its
// own, where /proc shows it every capability: crt enter must not hand
// them to the command on the host.
TEST_F(EnterTest, RefusesAnAppsProcessInAUserNamespaceOfItsOwn) {
  start_run({"busybox", "--allow-namespaces=user", "--", "/bin/sh", "-c", "exec unshare -U sleep 60"}, "sleep");
  ASSERT_NE(read_file("/proc/" + std::to_string(app_pid_) + "/status").find("CapBnd:\t000001ffffffffff"),
            std::string::npos)
      << "the app made no user namespace: the test proves nothing";
  Result r = enter({"/bin/sh", "-c", "grep CapBnd /proc/self/status"});
  EXPECT_EQ(r.status, 254) << r.out;
  EXPECT_THAT(r.err, HasSubstr("the main process of app 'busybox' is in a user namespace of its own"));
  EXPECT_EQ(r.out, "");
}

TEST_F(EnterTest, PassesTheStatusAndDefaultsToTheShell) {
  start({});
  EXPECT_EQ(enter({"/bin/sh", "-c", "exit 42"}).status, 42);
  Result r = crt({"enter", uuid_}, {.env = {}, .timeout = std::chrono::seconds(30), .input = "echo from-shell\n",
                                    .new_session = false});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("from-shell\n"));
  r = crt({"exec", "-i", uuid_.substr(0, 8), "echo", "exec alias"});
  EXPECT_EQ(r.out, "exec alias\n");
  // The command's words are its own, also those that look like crt's options.
  r = crt({"exec", uuid_, "echo", "--app=", "--tty="});
  EXPECT_EQ(r.out, "--app= --tty=\n") << r.err;
  // "--" ends crt's options, as in crt run.
  r = crt({"enter", uuid_, "--", "/bin/sh", "-c", "echo \"$@\"", "sh", "--", "-x"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "-- -x\n");
  // Also right after the options: with --uuid-file, and before POD.
  r = crt({"exec", "--uuid-file=" + dir_ + "/uuid", "--", "echo", "by file"});
  EXPECT_EQ(r.out, "by file\n") << r.err;
  r = crt({"enter", "--uuid-file", dir_ + "/uuid", "echo", "-n", "bare"});
  EXPECT_EQ(r.out, "bare") << r.err;
  r = crt({"enter", "--", uuid_, "--", "echo", "pod after --"});
  EXPECT_EQ(r.out, "pod after --\n") << r.err;
}

// Without a terminal of the pod's, the command has crt's stdin, stdout and
// stderr and nothing else of crt's: no other descriptor, and no controlling
// terminal (crt's, through which it could type into the host's shell).
TEST_F(EnterTest, TheCommandGetsNoOtherDescriptorOrSessionOfCrts) {
  start({});
  // Listed in a subshell, without a pipe: the shell would hold one of its
  // ends, or a copy of its stdout while it redirects a command it runs itself.
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec 7</etc; exec \"$@\"", "sh"};
  for (auto& a :
       crt_argv({"enter", uuid_, "--", "/bin/sh", "-c",
                 "(ls /proc/$$/fd > /tmp/fds); tr '\\n' ' ' < /tmp/fds; echo; read -r pid comm state ppid pgrp sid rest < /proc/$$/stat; "
                 "[ \"$sid\" = \"$$\" ] && echo own session"}))
    argv.push_back(a);
  Result r = run(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0 1 2 \nown session\n");
}

// A command goes with crt enter: SIGTERM reaches it, and a crt enter
// killed outright takes it along; nothing is left running in the pod.
// The command and what it started: a shell's child goes too.
TEST_F(EnterTest, TheCommandGoesWithCrtEnter) {
  start({});
  auto running = [] { return test::run({"pgrep", "-f", "^sleep 77$"}).status == 0; };
  for (const char* script : {"exec sleep 77", "sleep 77; echo after"})
    for (int sig : {SIGTERM, SIGKILL}) {
      Process e(crt_argv({"enter", uuid_, "--", "/bin/sh", "-c", script}),
                {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = true});
      for (int i = 0; i < 500 && !running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ASSERT_TRUE(running()) << sig;
      e.signal(sig);
      EXPECT_EQ(e.wait().status, 128 + sig) << script;
      for (int i = 0; i < 200 && running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      EXPECT_FALSE(running()) << script << ", signal " << sig;
      test::run({"pkill", "-KILL", "-f", "^sleep 77$"});
    }
}

// Without a pod terminal, crt alone is in its process group: a terminal's
// ^C (SIGINT to the whole foreground group) reaches crt, which passes it on
// once, not also crt's child on the way to the command.
TEST_F(EnterTest, ATerminalsCtrlCReachesCrtAloneWhichPassesItOn) {
  start({});
  Process e(crt_argv({"enter", uuid_, "--", "/bin/sh", "-c",
                      "trap 'echo got-int; exit 0' INT; echo ready; while :; do sleep 0.1; done"}),
            {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = true});
  for (int i = 0; i < 100 && e.read_for(std::chrono::milliseconds(100)).find("ready") == std::string::npos; ++i) {
  }
  std::vector<std::string> grouped;
  for (const auto& d : std::filesystem::directory_iterator("/proc")) {
    std::string name = d.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (pid != e.pid() && ::getpgid(pid) == e.pid()) grouped.push_back(name + " " + read_file(d.path() / "comm"));
  }
  EXPECT_THAT(grouped, ::testing::IsEmpty());
  ::kill(-e.pid(), SIGINT);
  Result r = e.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ready\ngot-int\n"));
}

TEST_F(EnterTest, OnATerminalTheCommandGetsOne) {
  start({});
  Result r = run_on_terminal(
      crt_argv({"exec", "-it", uuid_, "/bin/sh", "-c",
                "[ -t 0 ] && [ -t 1 ] && echo on-a-tty; tty; echo \"term=$TERM.\"; exit 3"}),
      std::chrono::seconds(20));
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("on-a-tty"));
  // A terminal of the pod's own: its name resolves inside the app.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("/dev/pts/[0-9]+"));
  EXPECT_THAT(r.out, Not(HasSubstr("not a tty")));
  // The app runs without a terminal, so has no TERM: the command gets the user's.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("term=[^.\r\n]+\\."));
}

TEST_F(EnterTest, EnterOnATerminalGivesTheCommandOne) {
  // As machinectl shell does: a shell entered from a terminal has job
  // control, and tty(1) names its terminal.
  start({});
  Result r = run_on_terminal(crt_argv({"enter", uuid_, "/bin/sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo on-a-tty; tty"}),
                             std::chrono::seconds(20));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("on-a-tty"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("/dev/pts/[0-9]+"));
  EXPECT_THAT(r.out, Not(HasSubstr("not a tty")));
  // Not on a terminal: the command's stdio is crt's own.
  r = enter({"/bin/sh", "-c", "[ -t 0 ] || echo no-tty"});
  EXPECT_EQ(r.out, "no-tty\n");
  // Nor with stderr redirected: it stays apart, where the user sent it.
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\" 2>" + dir_ + "/err", "sh"};
  for (const auto& a : crt_argv({"enter", uuid_, "/bin/sh", "-c", "tty; echo to-stderr >&2"})) argv.push_back(a);
  r = run_on_terminal(argv, std::chrono::seconds(20));
  EXPECT_THAT(r.out, HasSubstr("not a tty"));
  EXPECT_EQ(read_file(dir_ + "/err"), "to-stderr\n");
}

// As login does: the command can open its terminal again by name.
TEST_F(EnterTest, OnATerminalTheTerminalIsTheAppUsers) {
  start({"--user=65534", "--group=65534"});
  Result r = run_on_terminal(
      crt_argv({"exec", "-it", uuid_, "/bin/sh", "-c", "stat -c 'owner=%u.' $(tty) && echo reopened > $(tty)"}),
      std::chrono::seconds(20));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("owner=65534."));
  EXPECT_THAT(r.out, HasSubstr("reopened"));
}

// A shell with job control leaves a background job on the terminal when
// it exits: crt enter ends with the shell, not with the job.
TEST_F(EnterTest, OnATerminalABackgroundJobDoesNotHoldCrtEnter) {
  start({});
  auto begin = std::chrono::steady_clock::now();
  Result r = run_on_terminal(crt_argv({"enter", uuid_, "/bin/sh", "-c", "set -m; tail -f /dev/null & echo started; exit 3"}),
                             std::chrono::seconds(30));
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("started"));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(15));
  // The job, in the pod (its killall sees the pod's processes alone).
  Result killed = crt({"enter", uuid_, "/usr/bin/killall", "-KILL", "tail"});
  EXPECT_EQ(killed.status, 0) << killed.out << killed.err;
}

TEST_F(EnterTest, NeverTakesTheAppsExitRecorderForTheApp) {
  // Once app "short" has ended, its service cgroup holds its exit recorder:
  // a stage1 program with stage1's privileges, outside the app's rootfs.
  start({}, {"---", "busybox", "--name=short", "--", "/bin/sleep", "3"});
  // The recorder waits for the pod's journald (2 s at most while another app
  // runs): with journald stopped, it is there to be caught. (Apps do not
  // wait for journald to start.)
  pid_t journald = -1;
  for (int i = 0; i < 200 && journald < 0; ++i) {
    journald = pod_process(uuid_, "systemd-journal", "/systemd-journald.service");
    if (journald < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(journald, 0) << "no journald in pod " << uuid_;
  ASSERT_EQ(::kill(journald, SIGSTOP), 0);
  pid_t recorder = -1;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       recorder < 0 && std::chrono::steady_clock::now() < until;) {
    pid_t pid = pod_process(uuid_, "app-exited", "/short.service");
    if (pid > 0 && ::kill(pid, SIGSTOP) == 0)
      recorder = pid;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(journald, SIGCONT);
  ASSERT_GT(recorder, 0) << "the exit recorder of app short was not seen";
  Result r = enter({"/bin/true"}, {"--app=short"});
  Result inspected = crt({"inspect", "--app=short", uuid_});
  ::kill(recorder, SIGCONT);
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("app 'short' is not running")) << r.out;
  EXPECT_THAT(inspected.out, HasSubstr("app short (busybox:latest)\n  not running\n")) << inspected.err;
}

// An app that writes over its environment (nginx, PostgreSQL setting
// their process title) leaves NULs in /proc/PID/environ: the command gets
// the app's environment from its manifest, not those.
TEST_F(EnterTest, AnAppThatWroteOverItsEnvironmentStillGivesItsOwn) {
  BoundProgram setter = bound_program(TITLE_SETTER_BIN);
  start_run({"--set-env=GREETING=hello there", setter.volume, "busybox", setter.mount, "--exec=" + setter.path},
            "title-setter", [&](pid_t pid) {
              return read_file("/proc/" + std::to_string(pid) + "/environ").find("PATH=") == std::string::npos;
            });
  if (HasFatalFailure()) return;
  Result r = enter({"/bin/sh", "-c", "echo \"$GREETING|$CRT_APP_NAME|${PATH:+path}\""});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello there|busybox|path\n");
}

// The command's umask is the app's, not crt's (022).
TEST_F(EnterTest, TakesOnTheAppsUmask) {
  start_run({"busybox", "--", "/bin/sh", "-c", "umask 027; exec sleep 60"}, "sleep");
  if (HasFatalFailure()) return;
  Result r = enter({"/bin/sh", "-c", "umask"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0027\n");
}

TEST_F(EnterTest, AnAppAtItsTaskLimitIsSaidSo) {
  if (!host_has_controller("pids")) GTEST_SKIP() << "this host's cgroups have no pids controller to limit an app with";
  start({"--pids-limit=1"});
  Result r = enter({"/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: entering pod " + uuid_ +
                       ": the app's task limit (--pids-limit, TasksMax=) is reached: no process can join it\n");
}

// crt enter's process in the app is one of the app's processes before its
// command runs: an app that opened its descriptors through /proc/PID/fd/
// had the app's cgroup directory on the host, and from there every cgroup
// of the host (a tester killed another pod by its cgroup.kill). It is not
// dumpable, and holds nothing of crt's but the command's stdio once it has
// the app's credentials. A race: the tester's app won within 7 tries.
TEST_F(EnterTest, TheAppTakesNoDescriptorOfCrtsFromTheCommand) {
  BoundProgram thief = bound_program(FD_THIEF_BIN);
  start_run({thief.volume, "busybox", thief.mount, "--exec=" + thief.path, "--", "120"}, "fd-thief");
  if (HasFatalFailure()) return;
  for (int i = 0; i < 40 && ::kill(app_pid_, 0) == 0; ++i) {
    Result r = enter({"/bin/true"});
    EXPECT_EQ(r.status, 0) << r.err;
  }
  if (::kill(app_pid_, 0) != 0) {
    Result run = pod_->wait();
    pod_.reset();
    FAIL() << "the app took a descriptor of crt's:\n" << run.err << run.out;
  }
}

// Without a terminal, the command's stdin, stdout and stderr are pipes of
// crt's, not crt's own descriptors: a host file the caller gave as stdin
// (opened to be read) the app could open again through /proc/PID/fd/ and
// write, as root the host's 0400 file.
TEST_F(EnterTest, TheCommandsStdioArePipesNotCrtsOwn) {
  start({});
  if (HasFatalFailure()) return;
  std::string file = dir_ + "/input";
  fs::write_file_atomic(file, "the host's\n", 0400);
  std::vector<std::string> argv = {"/bin/sh", "-c", "f=$1; shift; exec \"$@\" <\"$f\"", "sh", file};
  for (auto& a : crt_argv({"enter", uuid_, "/bin/sh", "-c",
                           "for n in 0 1 2; do readlink /proc/self/fd/$n; done; echo app >/proc/self/fd/0"}))
    argv.push_back(a);
  Result r = run(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("pipe:\\[[0-9]+\\]\npipe:\\[[0-9]+\\]\npipe:\\[[0-9]+\\]\n"));
  EXPECT_EQ(read_file(file), "the host's\n");
}

// crt exec gives the command crt's stdin only with -i, as docker exec
// does: without it crt reads none of its own, and a loop that reads a file
// keeps its lines (the pipe crt relays stdin through took them all).
TEST_F(EnterTest, ExecGivesTheCommandCrtsStdinOnlyWithI) {
  start({});
  if (HasFatalFailure()) return;
  std::string file = dir_ + "/lines";
  fs::write_file_atomic(file, "a\nb\nc\n", 0644);
  std::vector<std::string> argv = {
      "/bin/sh", "-c", "f=$1; shift; while read -r x; do echo \"got $x\"; \"$@\"; done <\"$f\"", "sh", file};
  for (auto& a : crt_argv({"exec", uuid_, "/bin/true"})) argv.push_back(a);
  Result r = run(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "got a\ngot b\ngot c\n") << r.err;
  RunOptions hi{.env = {}, .timeout = std::chrono::seconds(30), .input = "hi\n", .new_session = false};
  r = crt({"exec", "-i", uuid_, "cat"}, hi);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  r = crt({"exec", "--interactive", uuid_, "cat"}, hi);
  EXPECT_EQ(r.out, "hi\n") << r.err;
  r = crt({"exec", uuid_, "/bin/sh", "-c", "readlink /proc/self/fd/0; cat; echo end"}, hi);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/dev/null\nend\n");
  // crt enter, of a shell by default, copies its stdin as before.
  r = crt({"enter", uuid_, "cat"}, hi);
  EXPECT_EQ(r.out, "hi\n") << r.err;
}

TEST_F(EnterTest, ClearErrors) {
  start({}, {"---", "busybox", "--name=other", "--", "/bin/sleep", "60"});
  Result r = enter({"/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr(" has several apps (busybox, other): say which with --app=NAME"));
  r = enter({"no-such-command"}, {"--app=busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no binary 'no-such-command' in $PATH"));
  r = crt({"exec", "-t", uuid_, "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("-t needs a terminal"));
  crt({"stop", uuid_});
  r = enter({"/bin/true"}, {"--app=busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("it is exited"));
}

}  // namespace
}  // namespace crt::test
