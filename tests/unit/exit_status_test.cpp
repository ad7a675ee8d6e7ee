#include "pod/exit_status.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "test_support.hpp"

namespace crt::pod {
namespace {

// On a full disk, an app's record goes over the spare made for it; an app
// without one gets the disk's error.
TEST(AppRecord, GoesOverItsSpareOnAFullDisk) {
  test::Scratch s;
  std::filesystem::path status = s / "status";
  test::Tmpfs small(status, "size=1m");
  if (!small.valid()) GTEST_SKIP() << "mounting needs root";
  make_spare_records(status, {"full"});
  {
    std::ofstream filler(status / ".filler");
    std::string block(4096, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
    }
  }
  AppExit e = app_exit_from_systemd("full", "exited", "3", "exit-code", 7);
  write_app_record(status, e);
  EXPECT_EQ(json_text::parse(fs::read_file(status / "full")).get<AppExit>().status, 3);
  EXPECT_FALSE(std::filesystem::exists(status / ".spare-full")) << "the spare became the record";
  std::string error;
  try {
    write_app_record(status, app_exit_from_systemd("other", "exited", "0", "success", 8));
  } catch (const Error& x) {
    error = x.what();
  }
  EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(status / "other"));
}

TEST(SignalNumber, NamesWithOrWithoutSig) {
  EXPECT_EQ(signal_number("TERM"), SIGTERM);
  EXPECT_EQ(signal_number("SIGTERM"), SIGTERM);
  EXPECT_EQ(signal_number("KILL"), SIGKILL);
  EXPECT_EQ(signal_number("HUP"), SIGHUP);
  EXPECT_EQ(signal_number("SEGV"), SIGSEGV);
  EXPECT_EQ(signal_number("SIGUSR2"), SIGUSR2);
}

TEST(SignalNumber, RealTimeSignalsAsSystemdNamesThem) {
  EXPECT_EQ(signal_number("RTMIN"), SIGRTMIN);
  EXPECT_EQ(signal_number("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(signal_number("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(signal_number("RTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(signal_number("RTMAX"), SIGRTMAX);
  for (const char* bad : {"RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+x", "RTMIN+3x", "RTMIN+99"})
    EXPECT_FALSE(signal_number(bad)) << "'" << bad << "'";
  // systemd-in-image containers stop on SIGRTMIN+3.
  EXPECT_EQ(app_exit_from_systemd("a", "killed", "RTMIN+3", "signal", 1).status, 128 + SIGRTMIN + 3);
  AppExit e = app_exit_from_unit("a", CLD_KILLED, SIGRTMIN + 3, "signal", 1);
  EXPECT_EQ(e.exit_status, "RTMIN+3");
  EXPECT_EQ(e.status, 128 + SIGRTMIN + 3);
}

TEST(SignalNumber, UnknownIsNullopt) {
  for (const char* bad : {"", "SIG", "BOGUS", "term", "SIGSIGTERM", "15", "TERM "})
    EXPECT_FALSE(signal_number(bad)) << "'" << bad << "'";
}

TEST(AppExitFromSystemd, ExitedWithStatus) {
  AppExit e = app_exit_from_systemd("web", "exited", "3", "exit-code", 42);
  EXPECT_EQ(e.app, "web");
  EXPECT_EQ(e.exit_code, "exited");
  EXPECT_EQ(e.exit_status, "3");
  EXPECT_EQ(e.result, "exit-code");
  EXPECT_EQ(e.status, 3);
  EXPECT_EQ(e.seq, 42u);
  EXPECT_EQ(app_exit_from_systemd("web", "exited", "0", "success", 1).status, 0);
  EXPECT_EQ(app_exit_from_systemd("web", "exited", "255", "exit-code", 1).status, 255);
}

// systemd's start limit ended the restarts of an app whose last run
// exited 0 (--restart=always): the pod did not keep it running, which is
// no success (crt's own status, as for an app that did not start); a
// failed last run keeps its own status.
TEST(AppExitFromUnit, TheStartLimitIsNoSuccess) {
  AppExit e = app_exit_from_unit("web", CLD_EXITED, 0, "start-limit-hit", 1);
  e.restarts = 4;
  EXPECT_EQ(e.status, kErrorExitCode);
  EXPECT_TRUE(hit_start_limit(e));
  EXPECT_EQ(start_limit_text(e), "systemd's start limit stopped its restarts: 5 starts within 10 s");
  EXPECT_EQ(app_exit_from_unit("web", CLD_EXITED, 3, "start-limit-hit", 1).status, 3);
  EXPECT_EQ(app_exit_from_unit("web", CLD_KILLED, SIGKILL, "start-limit-hit", 1).status, 128 + SIGKILL);
  AppExit ok = app_exit_from_unit("web", CLD_EXITED, 0, "success", 1);
  EXPECT_FALSE(hit_start_limit(ok));
  EXPECT_EQ(start_limit_text(ok), "");
}

TEST(AppExitFromSystemd, KilledOrDumpedIs128PlusSignal) {
  EXPECT_EQ(app_exit_from_systemd("a", "killed", "TERM", "signal", 1).status, 128 + SIGTERM);
  EXPECT_EQ(app_exit_from_systemd("a", "killed", "KILL", "signal", 1).status, 128 + SIGKILL);
  EXPECT_EQ(app_exit_from_systemd("a", "dumped", "SEGV", "core-dump", 1).status, 128 + SIGSEGV);
}

TEST(AppExitFromUnit, SaysWhatTheEnvironmentWouldHaveSaid) {
  // systemctl show -p ExecMainCode,ExecMainStatus,Result gives CLD_* codes
  // and a signal's number where $EXIT_CODE and $EXIT_STATUS have words.
  auto json_of = [](const AppExit& e) { return nlohmann::json(e); };
  EXPECT_EQ(json_of(app_exit_from_unit("web", CLD_EXITED, 3, "exit-code", 42)),
            json_of(app_exit_from_systemd("web", "exited", "3", "exit-code", 42)));
  EXPECT_EQ(json_of(app_exit_from_unit("web", CLD_EXITED, 0, "success", 1)),
            json_of(app_exit_from_systemd("web", "exited", "0", "success", 1)));
  EXPECT_EQ(json_of(app_exit_from_unit("web", CLD_KILLED, SIGTERM, "signal", 1)),
            json_of(app_exit_from_systemd("web", "killed", "TERM", "signal", 1)));
  EXPECT_EQ(json_of(app_exit_from_unit("web", CLD_DUMPED, SIGSEGV, "core-dump", 1)),
            json_of(app_exit_from_systemd("web", "dumped", "SEGV", "core-dump", 1)));
  // Its process never ran.
  EXPECT_EQ(json_of(app_exit_from_unit("web", 0, 0, "resources", 1)),
            json_of(app_exit_from_systemd("web", nullptr, nullptr, "resources", 1)));
  EXPECT_EQ(app_exit_from_unit("web", CLD_KILLED, SIGTERM, "signal", 1).status, 128 + SIGTERM);
}

TEST(AppExitFromSystemd, NeverRanIsAFailure) {
  AppExit e = app_exit_from_systemd("a", nullptr, nullptr, "resources", 1);
  EXPECT_EQ(e.exit_code, "");
  EXPECT_EQ(e.exit_status, "");
  EXPECT_EQ(e.status, 254) << "crt's own failure";
  EXPECT_EQ(app_exit_from_systemd("a", nullptr, nullptr, nullptr, 1).status, 254);
  EXPECT_EQ(app_exit_from_systemd("a", nullptr, nullptr, "success", 1).status, 0);
  EXPECT_EQ(app_exit_from_systemd("a", "exited", "garbage", "exit-code", 1).status, 1);
  EXPECT_EQ(app_exit_from_systemd("a", "killed", "NOSUCHSIG", "signal", 1).status, 1);
}

TEST(AppExit, JsonRoundTrip) {
  AppExit e = app_exit_from_systemd("web", "killed", "TERM", "signal", 18446744073709551615ULL);
  AppExit back = nlohmann::json(e).get<AppExit>();
  EXPECT_EQ(back.app, e.app);
  EXPECT_EQ(back.exit_code, e.exit_code);
  EXPECT_EQ(back.exit_status, e.exit_status);
  EXPECT_EQ(back.result, e.result);
  EXPECT_EQ(back.status, e.status);
  EXPECT_EQ(back.seq, e.seq);
}

TEST(ExitPolicy, KnownPolicies) {
  EXPECT_TRUE(is_exit_policy("on-any-failure"));
  EXPECT_TRUE(is_exit_policy("on-any-exit"));
  EXPECT_TRUE(is_exit_policy("on-all-exit"));
  EXPECT_FALSE(is_exit_policy(""));
  EXPECT_FALSE(is_exit_policy("always"));
}

AppExit exited(const std::string& app, int status, uint64_t seq) {
  AppExit e;
  e.app = app;
  e.status = status;
  e.seq = seq;
  return e;
}

const std::vector<std::string> kApps = {"a", "b", "c"};

TEST(Decide, OnAnyFailure) {
  AppExit ok = exited("a", 0, 1);
  AppExit bad = exited("a", 1, 1);
  EXPECT_EQ(decide("on-any-failure", kApps, {ok}, ok), PodAction::kContinue);
  EXPECT_EQ(decide("on-any-failure", kApps, {bad}, bad), PodAction::kStopOthers);
}

TEST(Decide, OnAnyExit) {
  AppExit ok = exited("a", 0, 1);
  EXPECT_EQ(decide("on-any-exit", kApps, {ok}, ok), PodAction::kStopOthers);
}

TEST(Decide, OnAllExit) {
  AppExit bad = exited("a", 9, 1);
  EXPECT_EQ(decide("on-all-exit", kApps, {bad}, bad), PodAction::kContinue);
}

TEST(Decide, EveryAppExitedFinishesWhateverThePolicy) {
  std::vector<AppExit> all = {exited("a", 0, 1), exited("b", 2, 2), exited("c", 0, 3)};
  for (const char* policy : {"on-any-failure", "on-any-exit", "on-all-exit"})
    EXPECT_EQ(decide(policy, kApps, all, all.back()), PodAction::kFinish) << policy;
}

TEST(Decide, RecordsOfOtherNamesDoNotCount) {
  std::vector<AppExit> exits = {exited("a", 0, 1), exited("b", 0, 2), exited("x", 0, 3)};
  EXPECT_EQ(decide("on-all-exit", kApps, exits, exits.back()), PodAction::kContinue);
}

TEST(PodExitStatus, FirstFailureBySequence) {
  EXPECT_EQ(pod_exit_status({}), 0);
  EXPECT_EQ(pod_exit_status({exited("a", 0, 1), exited("b", 0, 2)}), 0);
  EXPECT_EQ(pod_exit_status({exited("a", 2, 5), exited("b", 7, 3), exited("c", 0, 1)}), 7);
  EXPECT_EQ(pod_exit_status({exited("a", 0, 1), exited("b", 143, 9)}), 143);
}

TEST(PodExitStatus, AnAppThePodStoppedIsNoFailure) {
  AppExit stopped = exited("b", 143, 2);
  stopped.stopped_by_pod = true;
  EXPECT_EQ(pod_exit_status({exited("a", 0, 1), stopped}), 0);
  EXPECT_EQ(pod_exit_status({stopped, exited("a", 3, 5)}), 3);
  AppExit back = nlohmann::json(stopped).get<AppExit>();
  EXPECT_TRUE(back.stopped_by_pod);
  EXPECT_FALSE(nlohmann::json(exited("a", 0, 1)).contains("stopped_by_pod"));
}

}  // namespace
}  // namespace crt::pod
