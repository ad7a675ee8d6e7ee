// The day-two commands that look at pods: prepare, run-prepared, status
// (and its waits), list, cat-manifest and logs, checked from the outside.
// Stopping pods is pod_stop_test's, removing them pod_removal_test's.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.hpp"
#include "common/json_text.hpp"
#include "pod_commands_fixture.hpp"

namespace crt::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST_F(PodCommandsTest, PrepareThenRunPrepared) {
  Result r = crt({"prepare", "--quiet", "busybox", "--", "/bin/sh", "-c", "echo from prepared; exit 5"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  EXPECT_THAT(r.out, MatchesRegex("[0-9a-f-]{36}\n"));
  EXPECT_EQ(pods("prepared"), std::vector<std::string>{uuid});
  EXPECT_EQ(status_field(uuid, "state"), "prepared");
  EXPECT_EQ(status_field(uuid, "pid"), "<none>");
  // Its units are written as it starts.
  r = crt({"inspect", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\n  not running\n  unit:         (not written: the pod has not started)\n"));
  r = crt({"run-prepared", uuid.substr(0, 8)});
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_EQ(r.out, "from prepared\n");
  EXPECT_EQ(status_field(uuid, "state"), "exited");
  EXPECT_THAT(crt({"inspect", uuid}).out,
              HasSubstr("\n  not running\n  ended:        exit status 5 (exited 5, exit-code)\n  unit:\n    # "));
  EXPECT_EQ(status_field(uuid, "app-busybox"), "5");
  r = crt({"run-prepared", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is exited, not prepared"));
}

// crt logs -f of a pod that has just started (its journald not yet
// running) waits for the pod's journal and follows it, rather than saying
// the pod has not run; without -f it says there is no output yet.
TEST_F(PodCommandsTest, LogsFollowAPodThatHasNoJournalYet) {
  Result r =
      crt({"prepare", "--quiet", "--net=none", "busybox", "--", "/bin/sh", "-c", "echo first; sleep 1; echo second"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  Process run(crt_argv({"run-prepared", uuid}), detached());
  // From its move to run/ its journald takes 100 ms or more to start.
  for (int i = 0; i < 10000 && !std::filesystem::exists(pod_dir(uuid)); ++i)
    std::this_thread::sleep_for(milliseconds(1));
  ASSERT_TRUE(std::filesystem::exists(pod_dir(uuid))) << "crt run-prepared did not start the pod";
  Result once = crt({"logs", uuid});
  Result follow = crt({"logs", "-f", uuid});
  EXPECT_EQ(follow.status, 0) << follow.err;
  EXPECT_EQ(follow.out, "first\nsecond\n") << follow.err;
  EXPECT_EQ(run.wait().status, 0);
  EXPECT_EQ(once.status, 0) << once.err;
  // What the pod had when asked.
  EXPECT_THAT(once.err + once.out,
              ::testing::AnyOf("crt: pod " + uuid + " has no output yet\n", "", "first\n", "first\nsecond\n"));
}

TEST_F(PodCommandsTest, OnlyOverlaysOfARunningPodAreVolatile) {
  // A pod that runs is garbage after a crash: its overlays skip syncing
  // (the kernel leaves its marker in the work directory). A prepared one is
  // mounted synced, and a marker left by a start that failed before nspawn
  // ran does not keep it from running.
  auto marker = [&](const std::string& uuid, const char* state) {
    return std::filesystem::exists(dir_ + "/pods/" + state + "/" + uuid + "/overlay/stage1/work/work/incompat/volatile");
  };
  std::string uuid_file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + uuid_file, "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string ran = read_file(uuid_file).substr(0, 36);
  ASSERT_TRUE(marker(ran, "run"));

  r = crt({"prepare", "--quiet", "busybox", "--", "/bin/echo", "retried"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  EXPECT_FALSE(marker(uuid, "prepared"));
  // The markers a start leaves, as the kernel made them.
  for (const char* work : {"/overlay/stage1/work/work/incompat", "/overlay/apps/busybox/work/work/incompat"}) {
    std::filesystem::create_directories(dir_ + "/pods/prepared/" + uuid + work);
    std::filesystem::copy(dir_ + "/pods/run/" + ran + work, dir_ + "/pods/prepared/" + uuid + work,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  }
  r = crt({"run-prepared", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "retried\n");
}

TEST_F(PodCommandsTest, PrepareTakesQuietOnlyBeforeTheImage) {
  Result r = crt({"prepare", "busybox", "--", "/bin/echo", "-q", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, 36);
  EXPECT_THAT(r.err, HasSubstr("crt: prepared pod " + uuid)) << "the app's -q is not prepare's";
  r = crt({"run-prepared", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "-q --quiet\n") << "the app gets all its arguments";

  r = crt({"prepare", "-q", "busybox", "--", "/bin/echo", "-q"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = crt({"run-prepared", r.out.substr(0, 36)});
  EXPECT_EQ(r.out, "-q\n");
}

TEST_F(PodCommandsTest, PrepareValidatesWhatAStartNeeds) {
  Result r = crt({"prepare", "busybox", "--user=nosuchuser"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("nosuchuser"));
  EXPECT_TRUE(pods("prepared").empty());
  EXPECT_TRUE(pods("prepare").empty());
  r = crt({"prepare", "--interactive", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("options of 'crt run-prepared'"));
  r = crt({"prepare", "--detach", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, MatchesRegex("crt: --detach is an option of starting a pod, not of preparing one: use "
                                  "'crt run-prepared --detach UUID' after 'crt prepare', or 'crt run --detach'\n"));
  EXPECT_TRUE(pods("prepared").empty());
  r = crt({"prepare", "--net=nosuch", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("nosuch"));
  EXPECT_TRUE(pods("prepared").empty());
  EXPECT_TRUE(pods("prepare").empty());
}

TEST_F(PodCommandsTest, StatusThroughTheLifeOfAPod) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c", "sleep 1; exit 3"}),
            detached());
  std::string uuid = wait_uuid(file);
  ASSERT_FALSE(uuid.empty());
  Result r = crt({"status", "--uuid-file=" + file, "--wait-ready=20s"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state=running\n"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*pid=[0-9]+\n(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("exited=false\nready=true\n"));
  // Where nspawn tells which process is the pod's init: root's alone.
  struct stat st {};
  ASSERT_EQ(::stat((pod_dir(uuid) + "/notify").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // nspawn's link to the pod's journal leads to it from the host, where
  // stage1's rootfs is no mount (journalctl -m).
  std::string id = uuid;
  std::erase(id, '-');
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink("/var/log/journal/" + id, ec),
            pod_dir(uuid) + "/overlay/stage1/upper/var/log/journal/" + id);
  EXPECT_TRUE(std::filesystem::exists("/var/log/journal/" + id + "/system.journal"));
  r = crt({"status", uuid, "--wait=30s"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state=exited\n"));
  EXPECT_THAT(r.out, HasSubstr("exited=true\nready=true\n"));
  EXPECT_THAT(r.out, HasSubstr("app-busybox=3\n"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*created=20[0-9-]+T[0-9:.]+Z\nstarted=20[0-9-]+T[0-9:.]+Z\n(.|\n)*"));
  EXPECT_EQ(p.wait().status, 3);
  r = crt({"status", uuid, "--format=json"});
  auto j = crt::json_text::parse(r.out);
  EXPECT_EQ(j["state"], "exited");
  EXPECT_EQ(j["app_exit_statuses"]["busybox"], 3);
}

// A state directory reached through a symlink (a /var/lib/crt moved to
// another disk) is the same to crt as its real path, which nspawn gives the
// journal link: it is pointed at the journal the host sees, and removed.
TEST_F(PodCommandsTest, AStateDirectoryThroughASymlinkIsTakenByItsRealPath) {
  std::filesystem::create_directory_symlink(dir_, dir_ + "/via");
  std::string file = dir_ + "/uuid";
  Process p({crt_bin_, "--dir=" + dir_ + "/via", "run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "2"},
            detached());
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  std::string id = uuid;
  std::erase(id, '-');
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink("/var/log/journal/" + id, ec),
            pod_dir(uuid) + "/overlay/stage1/upper/var/log/journal/" + id);
  EXPECT_EQ(p.wait().status, 0);
  EXPECT_FALSE(std::filesystem::is_symlink("/var/log/journal/" + id)) << "the link to its journal was left";
}

TEST_F(PodCommandsTest, PodsAreFoundByPrefixNameAndUuidFile) {
  ASSERT_EQ(crt({"prepare", "--pod-name=web", "busybox", "--", "/bin/true"}).status, 0);
  ASSERT_EQ(crt({"prepare", "busybox", "--", "/bin/true"}).status, 0);
  Result r = crt({"status", "web"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state=prepared"));
  r = crt({"prepare", "--pod-name=web", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("pod name 'web' is taken"));
  r = crt({"status", "no-such-pod"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no pod 'no-such-pod'"));
  // Hex prefixes are ambiguous once there are enough pods; "" never names one.
  r = crt({"status", ""});
  EXPECT_EQ(r.status, 254);
  r = crt({"run-prepared", "web"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(crt({"cat-manifest", "web"}).out, HasSubstr("\"name\": \"web\""));
  // Once that pod has exited, the name is free for the next, and names it.
  std::string first = crt::json_text::parse(crt({"status", "web", "--format=json"}).out)["uuid"];
  ASSERT_EQ(crt({"run", "--net=none", "--pod-name=web", "busybox", "--", "/bin/sh", "-c", "exit 5"}).status, 5);
  r = crt({"status", "web", "--format=json"});
  EXPECT_EQ(r.status, 0) << r.err;
  auto latest = crt::json_text::parse(r.out);
  EXPECT_NE(latest["uuid"], first);
  EXPECT_EQ(latest["app_exit_statuses"]["busybox"], 5);
  ASSERT_EQ(crt({"prepare", "--pod-name=web", "busybox", "--", "/bin/true"}).status, 0);
  EXPECT_EQ(crt({"status", "web"}).out.find("state=prepared"), 0U) << "the pod that holds it";
}

TEST_F(PodCommandsTest, NoTwoRunningPodsShareAMachineName) {
  std::string file = dir_ + "/uuid";
  Process a(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  // The machine name of a pod without a name is not a name to give.
  Result r = crt({"run", "--net=none", "--pod-name=crt-" + uuid, "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("has the form of the machine names crt gives pods without a name")) << r.err;
  // Nor a name that begins a pod's UUID (its short ID would be ambiguous):
  // no name of hex digits and '-' alone is, whatever pods there are.
  r = crt({"prepare", "--pod-name=" + uuid.substr(0, 8), "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("invalid pod name '" + uuid.substr(0, 8) + "': a name of only hex digits and '-'"))
      << r.err;
  // Another state directory's running pod holds its name too.
  std::string other = dir_ + "/other";
  ASSERT_EQ(crt({"stop", uuid}).status, 0);
  a.wait();
  Process named(crt_argv({"run", "--net=none", "--pod-name=taken", "--uuid-file-save=" + file + "2", "busybox", "--",
                          "/bin/sleep", "60"}),
                {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string web = wait_uuid(file + "2");
  ASSERT_EQ(crt({"status", "--wait-ready=30s", web}).status, 0);
  r = run({crt_bin_, "--dir=" + other, "run", "--net=none", "--pod-name=taken", "busybox", "--", "/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("a machine named 'taken' is running")) << r.err;
  EXPECT_EQ(run({crt_bin_, "--dir=" + other, "list", "--no-legend"}).out, "") << "nothing of it is left";
  EXPECT_EQ(crt({"status", "taken"}).out.find("state=running"), 0U) << "the running pod goes on";
  EXPECT_EQ(crt({"stop", "taken"}).status, 0);
  EXPECT_EQ(named.wait().status, 143);
}

// Pods given one name at once: one gets it.
TEST_F(PodCommandsTest, OfPodsNamedAtOnceOneGetsTheName) {
  std::vector<std::unique_ptr<Process>> ps;
  for (int i = 0; i < 4; ++i)
    ps.push_back(
        std::make_unique<Process>(crt_argv({"prepare", "-q", "--pod-name=twin", "busybox"}),
                                  RunOptions{.env = {}, .timeout = seconds(60), .input = {}, .new_session = true}));
  int named = 0;
  for (auto& p : ps) {
    Result r = p->wait();
    if (r.status == 0) {
      ++named;
    } else {
      EXPECT_EQ(r.status, 254);
      EXPECT_THAT(r.err, HasSubstr("pod name 'twin' is taken by pod "));
    }
  }
  EXPECT_EQ(named, 1);
  EXPECT_EQ(pods("prepared").size(), 1U);
}

TEST_F(PodCommandsTest, ListShowsOneRowPerApp) {
  ASSERT_EQ(crt({"prepare", "busybox", "--name=one", "---", "busybox", "--name=two"}).status, 0);
  ASSERT_EQ(crt({"prepare", "--pod-name=named", "busybox", "--name=three"}).status, 0);
  Result r = crt({"list"});
  // Columns as wide as their widest cell, two spaces apart; no spaces at
  // a line's end.
  EXPECT_THAT(r.out,
              MatchesRegex("UUID      NAME   APP    IMAGE           STATE     CREATED                   STARTED  "
                           "NETWORKS  PORTS\n"
                           "[0-9a-f]{8}  -      one    busybox:latest  prepared  [0-9TZ:.-]{24}\n"
                           "[0-9a-f]{8}  -      two    busybox:latest  prepared  [0-9TZ:.-]{24}\n"
                           "[0-9a-f]{8}  named  three  busybox:latest  prepared  [0-9TZ:.-]{24}\n"));
  r = crt({"list", "--no-legend", "--full"});
  EXPECT_THAT(r.out, MatchesRegex("[0-9a-f-]{36} +- +one (.|\n)*"));
  // A pod without networks of its own says which it has.
  ASSERT_EQ(crt({"prepare", "--net=host", "busybox", "--name=four"}).status, 0);
  ASSERT_EQ(crt({"prepare", "--net=none", "busybox", "--name=five"}).status, 0);
  r = crt({"list", "--no-legend"});
  EXPECT_THAT(r.out, ::testing::ContainsRegex(" four +busybox:latest +prepared +[0-9TZ:.-]{24} +host\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex(" five +busybox:latest +prepared +[0-9TZ:.-]{24} +none\n"));
  auto j = crt::json_text::parse(crt({"list", "--format=json"}).out);
  ASSERT_EQ(j.size(), 5U);
  EXPECT_EQ(j[1]["app"], "two");
  EXPECT_EQ(j[2]["name"], "named");
  EXPECT_EQ(j[1]["state"], "prepared");
}

TEST_F(PodCommandsTest, ListShowsAnAppThatEndedInARunningPodAsExited) {
  std::string file = dir_ + "/uuid";
  Process p(
      crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "--exit-policy=on-all-exit", "busybox", "--name=done",
                "--", "/bin/sh", "-c", "exit 3", "---", "busybox", "--name=runs", "--", "/bin/sleep", "60"}),
      detached());
  std::string uuid = wait_uuid(file);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(pod_dir(uuid) + "/status/done") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto j = crt::json_text::parse(crt({"list", "--format=json"}).out);
  ASSERT_EQ(j.size(), 2U) << j;
  EXPECT_EQ(j[0]["app"], "done");
  EXPECT_EQ(j[0]["state"], "exited");
  EXPECT_EQ(j[1]["state"], "running");
  EXPECT_EQ(crt({"stop", uuid}).status, 0);
  EXPECT_EQ(p.wait().status, 3);
  // Once the pod has exited, its state is the pod's, garbage included.
  ASSERT_EQ(crt({"gc", "--mark-only", "--grace-period=0"}).status, 0);
  j = crt::json_text::parse(crt({"list", "--format=json"}).out);
  EXPECT_EQ(j[0]["state"], "exited garbage");
  EXPECT_EQ(j[1]["state"], "exited garbage");
}

TEST_F(PodCommandsTest, ListIsInTheOrderThePodsWereMade) {
  // UUIDs are random, and so is the order of a directory: the list is not.
  std::vector<std::string> made;
  for (int i = 0; i < 6; ++i) {
    Result r = crt({"prepare", "--quiet", "busybox", "--name=app" + std::to_string(i)});
    ASSERT_EQ(r.status, 0) << r.err;
    made.push_back("app" + std::to_string(i));
  }
  auto j = crt::json_text::parse(crt({"list", "--format=json"}).out);
  std::vector<std::string> listed;
  for (const auto& row : j) listed.push_back(row["app"]);
  EXPECT_EQ(listed, made);
}

// `crt run … &` then `crt status --wait-ready`: the pod, or the UUID file
// its crt run writes, need not be there yet; the wait covers them too.
TEST_F(PodCommandsTest, AWaitCoversAPodThatIsNotThereYet) {
  std::string file = dir_ + "/uuid";
  Process by_name(crt_argv({"status", "--wait-ready=60s", "late"}), detached());
  Process by_file(crt_argv({"status", "--wait=60s", "--uuid-file=" + file}), detached());
  // The word after --wait-ready, no duration, is the pod (no limit).
  Process by_word(crt_argv({"status", "--wait-ready", "late"}), detached());
  std::this_thread::sleep_for(milliseconds(2000));
  Result r = crt({"run", "--net=none", "--pod-name=late", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  // Said once it has waited a second (a starved wait may not have).
  for (Process* p : {&by_name, &by_word}) {
    r = p->wait();
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("state="));
    EXPECT_THAT(r.err, ::testing::AnyOf("", "crt: no pod 'late' yet: waiting for it\n"));
  }
  r = by_file.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state=exited\n"));
  EXPECT_THAT(r.err, ::testing::AnyOf("", "crt: no UUID in '" + file + "' yet: waiting for it\n"));
  // Not beyond the wait's limit, which is said with what it waited for.
  r = crt({"status", "--wait-ready=300ms", "never"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err,
            "crt: no pod 'never': no pod of that name appeared within the 0.3 s the wait gave it (a pod removed "
            "before the wait began cannot be seen)\n");
}

// A UUID file whose UUID names no pod (it was removed) is said with the
// file and the UUID, by every command that takes --uuid-file. A wait does
// not wait for it, nor for a UUID or a prefix of one that names no pod: a
// pod has its UUID once it is there, so such a pod was removed.
TEST_F(PodCommandsTest, AUuidOfARemovedPodIsSaidAndNotWaitedFor) {
  std::string file = dir_ + "/uuid";
  ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  const std::string said = "crt: no pod " + uuid + ", the UUID --uuid-file '" + file +
                           "' holds: it was removed, or that file is of another --dir\n";
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{{"status"},
                                                                             {"status", "--wait-ready=30s"},
                                                                             {"status", "--wait=30s"},
                                                                             {"inspect"},
                                                                             {"logs"},
                                                                             {"cat-manifest"},
                                                                             {"stop"},
                                                                             {"rm"},
                                                                             {"run-prepared"},
                                                                             {"enter"},
                                                                             {"export", dir_ + "/out.tar"}}) {
    SCOPED_TRACE(args.at(0));
    args.insert(args.begin() + 1, "--uuid-file=" + file);
    auto start = std::chrono::steady_clock::now();
    Result r = crt(args);
    EXPECT_EQ(r.status, 254) << r.out;
    EXPECT_EQ(r.err, said);
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
  }
  for (const std::string& ref : {uuid, uuid.substr(0, 8)}) {
    auto start = std::chrono::steady_clock::now();
    Result r = crt({"status", "--wait-ready=30s", ref});
    EXPECT_EQ(r.status, 254) << r.out;
    EXPECT_EQ(r.err, "crt: no pod '" + ref + "'\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10)) << "waited for " << ref;
  }
}

TEST_F(PodCommandsTest, WaitReadyTakesThePodAfterItAndGivesUpOnAFailedStart) {
  std::string file = dir_ + "/uuid";
  // The app fails before it says READY=1: the pod never counts as ready.
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--notify", "--", "/bin/sh", "-c",
                      "sleep 1; exit 7"}),
            detached());
  std::string uuid = wait_uuid(file);
  Result r = crt({"status", "--wait-ready", uuid});
  EXPECT_EQ(r.status, 254) << r.out;
  EXPECT_THAT(r.err, HasSubstr("pod " + uuid + " is exited: it will not become ready"));
  EXPECT_FALSE(std::filesystem::exists(pod_dir(uuid) + "/ready"));
  EXPECT_EQ(p.wait().status, 7);
  auto json_ready = [&](const std::string& pod) {
    return crt::json_text::parse(crt({"status", "--format=json", pod}).out)["ready"];
  };
  EXPECT_EQ(json_ready(uuid), false);
  // A pod that was ready and has ended: its apps did start.
  ASSERT_EQ(crt({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  std::string ended = wait_uuid(file);
  r = crt({"status", "--wait-ready=5s", ended});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state=exited\n"));
  EXPECT_EQ(json_ready(ended), true);
  // A word that is neither a duration nor a pod: both are said.
  r = crt({"status", "--wait", "5x"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no pod '5x'; nor is it a duration (--wait: invalid duration '5x'"));
}

// A wait on a prepared pod ends when the crt run-prepared that starts it
// fails (the pod is put back in prepared/), not never.
TEST_F(PodCommandsTest, AWaitEndsWhenTheStartOfAPreparedPodFails) {
  std::string src = dir_ + "/src";
  std::filesystem::create_directory(src);
  Result r = crt(
      {"prepare", "--volume=v,kind=host,source=" + src, "busybox", "--mount=volume=v,target=/v", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  std::filesystem::remove(src);  // the start cannot mount it
  for (const char* wait : {"--wait-ready", "--wait"}) {
    Process status(crt_argv({"status", wait, uuid}),
                   {.env = {}, .timeout = std::chrono::seconds(20), .input = {}, .new_session = true});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = crt({"run-prepared", uuid});
    EXPECT_EQ(r.status, 254);
    EXPECT_THAT(r.err, HasSubstr("No such file or directory"));
    Result s = status.wait();
    EXPECT_FALSE(s.timed_out) << wait;
    EXPECT_EQ(s.status, 254) << wait;
    EXPECT_EQ(s.err, "crt: pod " + uuid + "'s start failed (see its crt run-prepared): it is prepared again\n");
  }
  EXPECT_EQ(pods("prepared"), std::vector<std::string>{uuid});
  EXPECT_EQ(read_file(dir_ + "/pods/prepared/" + uuid + "/start-failed"), "2\n") << "each failed start is counted";
  // A start that fails before the wait began ends no wait; one that starts
  // the pod does.
  std::filesystem::create_directory(src);
  Process status(crt_argv({"status", "--wait-ready", uuid}),
                 {.env = {}, .timeout = std::chrono::seconds(20), .input = {}, .new_session = true});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(crt({"run-prepared", uuid}).status, 0);
  Result s = status.wait();
  EXPECT_EQ(s.status, 0) << s.err;
  EXPECT_THAT(s.out, HasSubstr("ready=true\n"));
}

// Only directories named by a pod's UUID are pods: what else an admin put
// there is neither listed nor collected.
TEST_F(PodCommandsTest, WhatIsNoPodInThePodDirectoriesIsLeftAlone) {
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);
  for (const char* name : {"notes", "5EF356C4-8330-45A3-A1B3-A2021D646219"}) {
    std::filesystem::create_directories(dir_ + "/pods/run/" + std::string(name) + "/kept");
    std::filesystem::create_directories(dir_ + "/pods/exited-garbage/" + std::string(name) + "/kept");
  }
  Result r = crt({"list", "--no-legend"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  r = crt({"gc", "--grace-period=0s"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* name : {"notes", "5EF356C4-8330-45A3-A1B3-A2021D646219"}) {
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/pods/run/" + std::string(name) + "/kept")) << name;
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/pods/exited-garbage/" + std::string(name) + "/kept")) << name;
    std::filesystem::remove_all(dir_ + "/pods/run/" + std::string(name));
    std::filesystem::remove_all(dir_ + "/pods/exited-garbage/" + std::string(name));
  }
  EXPECT_TRUE(pods("run").empty()) << "the pod was collected";
}

// An exited pod whose directory another crt holds for a while (crt gc
// tearing its network down) reads as running, but its old nspawn PID, by
// now maybe another process's, is not shown as the pod's.
TEST_F(PodCommandsTest, APodHeldByAnotherCrtShowsNoPidThatIsNotItsNspawns) {
  std::string file = dir_ + "/uuid";
  ASSERT_EQ(crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"}).status, 0);
  std::string uuid = wait_uuid(file);
  std::ofstream(pod_dir(uuid) + "/pid", std::ios::trunc) << ::getpid();
  int fd = ::open(pod_dir(uuid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  Result r = crt({"status", uuid});
  ::close(fd);
  EXPECT_THAT(r.out, HasSubstr("state=running\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("pid=")));
}

TEST_F(PodCommandsTest, LogsOfOneAppAndFollowedUntilThePodExits) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--name=a", "--", "/bin/sh", "-c",
                      "echo from-a; sleep 1; echo a-late", "---", "busybox", "--name=b", "--", "/bin/sh", "-c",
                      "echo from-b; sleep 1.5"}),
            detached());
  std::string uuid = wait_uuid(file);
  wait_for_output(uuid, "from-b");
  // -f prints what came and what comes, and returns when the pod exits.
  Result followed = crt({"logs", "-f", uuid, "a"}, {.env = {}, .timeout = seconds(30), .input = {}, .new_session = false});
  EXPECT_EQ(followed.status, 0) << followed.err;
  EXPECT_THAT(followed.out, HasSubstr("from-a"));
  EXPECT_THAT(followed.out, HasSubstr("a-late"));
  EXPECT_THAT(followed.out, ::testing::Not(HasSubstr("from-b")));
  p.wait();
  Result b = crt({"logs", uuid, "b"});
  EXPECT_THAT(b.out, HasSubstr("from-b"));
  EXPECT_THAT(b.out, ::testing::Not(HasSubstr("from-a")));
  // With --uuid-file, the one word is the app.
  EXPECT_EQ(crt({"logs", "--uuid-file=" + file, "b"}).out, b.out);
  EXPECT_NE(crt({"logs", uuid, "nosuch"}).status, 0);
}

// A --dir relative to where crt runs is the same store for every part of
// the pod (its mount namespace and its init are elsewhere): the output
// reaches the pod's journal, and later commands find the pod.
TEST_F(PodCommandsTest, ARelativeDirIsTakenFromWhereCrtRuns) {
  std::filesystem::path dir(dir_);
  std::string rel = dir.filename().string() + "/./";
  auto crt_in_parent = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/bin/sh", "-c",          "cd \"$0\" && exec \"$@\"", dir.parent_path().string(),
                                     crt_bin_,  "--dir=" + rel};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  Result r = crt_in_parent({"run", "--net=none", "busybox", "--", "/bin/echo", "relative"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "relative\n");
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(pods("run").size(), 1U);
  std::string uuid = pods("run")[0];
  EXPECT_EQ(crt_in_parent({"logs", uuid}).out, "relative\n");
  EXPECT_EQ(crt({"logs", uuid}).out, "relative\n");
}

TEST_F(PodCommandsTest, LogsTakeTheLastLinesOrThoseSinceATimeWithTimestamps) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                  // With journald up, which stamps a line when it reads it.
                  "until [ -S /run/systemd/journal/io.systemd.journal ]; do sleep 0.05; done; "
                  "echo one; sleep 1.5; echo two; echo three"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = wait_uuid(file);
  EXPECT_EQ(crt({"logs", "--tail=2", uuid}).out, "two\nthree\n");
  EXPECT_EQ(crt({"logs", "-n", "0", uuid}).out, "");
  EXPECT_EQ(crt({"logs", "-n", "9", uuid}).out, "one\ntwo\nthree\n");
  Result stamped = crt({"logs", "-t", uuid});
  EXPECT_THAT(stamped.out, ::testing::MatchesRegex("(20[0-9-]+T[0-9:]+\\.[0-9]{3}Z (one|two|three)\n){3}"));
  // From between "one" and "two" on (journald stamps a line when it reads
  // it: the 1.5 s apart can shrink, never vanish).
  auto stamp = [&](const std::string& word) {
    size_t at = stamped.out.find(" " + word + "\n");
    size_t start = stamped.out.rfind('\n', at);
    start = start == std::string::npos ? 0 : start + 1;
    return at == std::string::npos ? std::optional<uint64_t>() : usec_from_rfc3339(stamped.out.substr(start, at - start));
  };
  std::optional<uint64_t> one = stamp("one"), two = stamp("two");
  ASSERT_TRUE(one && two) << stamped.out;
  ASSERT_GT(*two, *one) << stamped.out;
  std::string between = rfc3339_from_usec(*one + (*two - *one) / 2 + 1000);
  EXPECT_EQ(crt({"logs", "--since=" + between, uuid}).out, "two\nthree\n");
  EXPECT_EQ(crt({"logs", "--since=1h", uuid}).out, "one\ntwo\nthree\n");
  EXPECT_THAT(crt({"logs", "--since=1h", "--tail=1", "-t", uuid}).out,
              ::testing::MatchesRegex("20[0-9-]+T[0-9:]+\\.[0-9]{3}Z three\n"));
  r = crt({"logs", "--since=yesterday", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("invalid --since 'yesterday': give how long ago"));
  r = crt({"logs", "--tail=-1", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("invalid -n/--tail '-1'"));
  // A damaged manifest is said to be one, not to be pending.
  std::ofstream(pod_dir(uuid) + "/pod.json", std::ios::trunc) << "{bad";
  r = crt({"logs", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: pod " + uuid + ": reading its manifest: invalid pod manifest: "));
  // So do inspect, status and list (which still show what they can).
  r = crt({"inspect", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: pod " + uuid + ": reading its manifest: invalid pod manifest: "));
  for (const char* cmd : {"status", "list"}) {
    r = crt(cmd == std::string("list") ? std::vector<std::string>{"list"} : std::vector<std::string>{cmd, uuid});
    EXPECT_EQ(r.status, 0) << cmd << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("crt: warning: pod " + uuid + ": reading its manifest: invalid pod manifest: "))
        << cmd;
    EXPECT_THAT(r.out, HasSubstr(cmd == std::string("list") ? uuid.substr(0, 8) : "state=exited\n")) << cmd;
  }
}

TEST_F(PodCommandsTest, LogsShowTheOutputOfAnAppNamedLikeThePodsSystemd) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--name=systemd", "--", "/bin/sh", "-c",
                  "echo hello; sleep 0.2; echo oops >&2"});
  ASSERT_EQ(r.status, 0) << r.err;
  Result logs = crt({"logs", wait_uuid(file)});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_EQ(logs.out, "hello\noops\n");
}

// Each logger has ended before the pod's journald reads its message, so
// journald can name no unit for it: the pod's one app sent it.
TEST_F(PodCommandsTest, LogsShowSyslogMessagesOfProcessesThatEndedAtOnce) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                  "for i in $(seq 30); do logger -t tagged line$i; done"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string expected;
  for (int i = 1; i <= 30; ++i) expected += "line" + std::to_string(i) + "\n";
  Result logs = crt({"logs", wait_uuid(file)});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_EQ(logs.out, expected);
}

// An app that opens a journal stream of its own and names another app in
// its header: its lines are still its own.
TEST_F(PodCommandsTest, LogsKeepAnAppsLinesItsOwnWhateverItsStreamSays) {
  BoundProgram bin = bound_program(JOURNAL_STREAM_BIN);
  std::string file = dir_ + "/uuid";
  Result r =
      crt({"run", "--net=none", "--uuid-file-save=" + file, bin.volume, "busybox", "--name=a", bin.mount, "--",
           bin.path, "b", "from-a", "---", "busybox", "--name=b", "--", "/bin/sh", "-c", "sleep 0.3; echo from-b"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = wait_uuid(file);
  Result logs = crt({"logs", uuid, "b"});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_EQ(logs.out, "from-b\n");
  logs = crt({"logs", uuid, "a"});
  EXPECT_EQ(logs.out, "from-a\n");
  logs = crt({"logs", uuid});
  EXPECT_EQ(logs.out, "a: from-a\nb: from-b\n");
}

// A line of 200 KB is one entry of the journal, and one line of crt logs
// (journald splits lines at 48 KiB unless told otherwise).
TEST_F(PodCommandsTest, LogsKeepALongLineWhole) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                  "head -c 200000 /dev/zero | tr '\\0' a; echo; echo end"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string line = std::string(200000, 'a') + "\n";
  EXPECT_TRUE(r.out == line + "end\n") << r.out.size();
  Result logs = crt({"logs", wait_uuid(file)});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_TRUE(logs.out == line + "end\n")
      << logs.out.size() << " bytes, " << std::count(logs.out.begin(), logs.out.end(), '\n') << " lines";
}

// Output faster than journald takes it, up to the app's end: the copy in
// the pod's journal is all of it, line for line (none left out after the
// app's process ended, none cut in two where the sender changed).
TEST_F(PodCommandsTest, LogsKeepAFloodToItsLastLine) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                  "head -c 4000000 /dev/zero | tr '\\0' x | fold -w 1000; echo; echo last"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::string expected;
  for (int i = 0; i < 4000; ++i) expected += std::string(1000, 'x') + "\n";
  expected += "last\n";
  EXPECT_TRUE(r.out == expected) << r.out.size();
  Result logs = crt({"logs", wait_uuid(file)});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_TRUE(logs.out == expected) << logs.out.size() << " bytes, "
                                    << std::count(logs.out.begin(), logs.out.end(), '\n') << " lines, ending "
                                    << logs.out.substr(logs.out.size() - std::min<size_t>(logs.out.size(), 20));
}

// journald keeps a pod's latest 64 MB, removing its oldest files: crt logs
// says when what it shows no longer begins at the start.
TEST_F(PodCommandsTest, LogsSayWhenTheJournalLostItsOldestOutput) {
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh", "-c",
                  "head -c 400000 /dev/urandom | base64; echo last"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = wait_uuid(file);
  Result logs = crt({"logs", uuid});
  EXPECT_EQ(logs.err, "");
  EXPECT_EQ(logs.out, r.out);
  // What journald's vacuuming does: the oldest archived file goes.
  std::string id = uuid;
  std::erase(id, '-');
  std::vector<std::string> archived;
  for (const auto& e :
       std::filesystem::directory_iterator(dir_ + "/pods/run/" + uuid + "/overlay/stage1/upper/var/log/journal/" + id))
    if (e.path().filename().string().rfind("system@", 0) == 0) archived.push_back(e.path());
  ASSERT_GE(archived.size(), 1U) << "the output did not fill a journal file";
  std::sort(archived.begin(), archived.end());
  std::filesystem::remove(archived.front());
  logs = crt({"logs", uuid});
  EXPECT_EQ(logs.status, 0);
  EXPECT_THAT(logs.err, HasSubstr("no longer has the oldest output of its apps"));
  EXPECT_LT(logs.out.size(), r.out.size());
  EXPECT_THAT(logs.out, ::testing::EndsWith("\nlast\n"));
  // The last lines asked for are all there: nothing to say.
  logs = crt({"logs", "-n", "2", uuid});
  EXPECT_EQ(logs.err, "");
  EXPECT_THAT(logs.out, ::testing::EndsWith("\nlast\n"));
}

TEST_F(PodCommandsTest, LogsOfAPodThatHasNotRunSaySo) {
  Result prep = crt({"prepare", "--quiet", "busybox"});
  ASSERT_EQ(prep.status, 0) << prep.err;
  std::string uuid = prep.out.substr(0, prep.out.find('\n'));
  for (const char* follow : {"", "-f"}) {
    std::vector<std::string> args = {"logs", uuid};
    if (*follow != '\0') args.insert(args.begin() + 1, follow);
    Result r = crt(args);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "crt: pod " + uuid + " has not run yet (start it with 'crt run-prepared'): no output\n");
  }
}

// crt status --wait of a pod of crt run --rm gives the pod's end as it was
// (not the pod as it is removed: "deleting", not exited, no name), and says
// that it is gone; --wait-ready of one removed before its apps started ends
// with an error that says so.
TEST_F(PodCommandsTest, AWaitForAPodOfRunRmGivesItsEnd) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--rm", "--net=none", "--pod-name=brief", "--uuid-file-save=" + file, "busybox", "--",
                      "/bin/sh", "-c", "sleep 2; exit 3"}),
            detached());
  std::string uuid = wait_uuid(file);
  Result r = crt({"status", "--wait=60s", "brief"});
  // A wait whose last look at the running pod came before the app's end
  // was recorded, and whose next came after the removal took the records
  // (looks 20 ms apart, later on a loaded machine: seen once in CI), can
  // only say so, as crt.1 has it.
  if (r.status == 254 && r.err == "crt: pod " + uuid +
                                      " is gone: it was removed (by its crt run --rm, crt rm or crt gc) before how "
                                      "its apps ended could be read\n") {
    std::cerr << "note: this wait missed the pod's end (crt.1: an error, 254)\n";
  } else {
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.rfind("state=exited\ncreated=", 0), 0u) << r.out;
    EXPECT_THAT(r.out, HasSubstr("\nexited=true\nready=true\napp-busybox=3\n"));
    EXPECT_EQ(r.err, "crt: pod " + uuid +
                         " is gone: it was removed as it ended (by its crt run --rm, crt rm or crt gc); this is how "
                         "it ended\n");
  }
  EXPECT_EQ(p.wait().status, 3);
  std::filesystem::remove(file);
  Process q(crt_argv({"run", "--rm", "--net=none", "--uuid-file-save=" + file, "busybox", "--notify", "--", "/bin/sh",
                      "-c", "sleep 1; exit 7"}),
            detached());
  uuid = wait_uuid(file);
  r = crt({"status", "--wait-ready=60s", uuid});
  EXPECT_EQ(r.status, 254) << r.out;
  EXPECT_EQ(r.err, "crt: pod " + uuid +
                       " is gone: it was removed (by its crt run --rm, crt rm or crt gc) before its apps started: it "
                       "will not become ready\n");
  EXPECT_EQ(q.wait().status, 7);
}

}  // namespace
}  // namespace crt::test
