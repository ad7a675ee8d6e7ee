#include "pod/run_args.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::pod {
namespace {

using Strings = std::vector<std::string>;

std::string run_args_error(const Strings& args) {
  return test::error_of([&] { parse_run_args(args); });
}

TEST(RunArgs, ImageAlone) {
  RunRequest r = parse_run_args({"busybox"});
  ASSERT_EQ(r.apps.size(), 1u);
  EXPECT_EQ(r.apps[0].image, "busybox");
  EXPECT_TRUE(r.apps[0].args.empty());
  EXPECT_FALSE(r.apps[0].args_given);
  EXPECT_EQ(r.pod.net, "default");
  EXPECT_FALSE(r.pod.interactive);
  EXPECT_FALSE(r.apps[0].flags.name);
}

// The manifest is JSON: a setting that is not UTF-8 is named as given.
TEST(RunArgs, AnOptionThatIsNotUtf8IsNamed) {
  try {
    parse_run_args({"busybox", "--working-dir=/caf\xe9", "--", "/bin/echo", "caf\xe9"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "option or image '--working-dir=/caf\xe9' is not valid UTF-8");
  }
  // An app's arguments are checked with their app.
  EXPECT_NO_THROW(parse_run_args({"busybox", "--", "/bin/echo", "caf\xe9", "---", "busybox", "--name=b"}));
  EXPECT_THROW(parse_run_args({"busybox", "--", "/bin/true", "---", "busybox", "--user=caf\xe9"}), Error);
}

TEST(RunArgs, PodFlagsAppFlagsAndArguments) {
  RunRequest r = parse_run_args({"--net=none", "--interactive", "--hostname", "h1", "--uuid-file-save=/run/u",
                                 "--set-env=A=1", "--set-env", "B=x y", "--stage1-path=/s1", "--debug", "busybox",
                                 "--memory=100M", "--cpu", "200m", "--name=web", "--", "/bin/sh", "-c", "echo $HOME"});
  EXPECT_EQ(r.pod.net, "none");
  EXPECT_TRUE(r.pod.interactive);
  EXPECT_EQ(r.pod.hostname, "h1");
  EXPECT_EQ(r.pod.uuid_file_save, "/run/u");
  EXPECT_EQ(r.pod.set_env, (Strings{"A=1", "B=x y"}));
  EXPECT_EQ(r.pod.stage1_path, "/s1");
  EXPECT_TRUE(r.pod.debug);
  ASSERT_EQ(r.apps.size(), 1u);
  const AppRequest& a = r.apps[0];
  EXPECT_EQ(a.image, "busybox");
  EXPECT_EQ(a.flags.memory, "100M");
  EXPECT_EQ(a.flags.cpu, "200m");
  EXPECT_EQ(a.flags.name, "web");
  EXPECT_TRUE(a.args_given);
  EXPECT_EQ(a.args, (Strings{"/bin/sh", "-c", "echo $HOME"}));
}

TEST(RunArgs, EveryAppFlag) {
  RunRequest r = parse_run_args({"img", "--name=n", "--exec=/bin/x y", "--environment=A=1", "--environment", "B=2",
                                 "--user=1000", "--group=wheel", "--working-dir=/w d", "--memory=1Gi", "--cpu=1.5",
                                 "--seccomp=mode=remove,reboot", "--caps-retain=CAP_CHOWN,kill",
                                 "--caps-remove=CAP_KILL"});
  const AppFlags& f = r.apps[0].flags;
  EXPECT_EQ(f.name, "n");
  EXPECT_EQ(f.exec, "/bin/x y");
  EXPECT_EQ(f.environment, (Strings{"A=1", "B=2"}));
  EXPECT_EQ(f.user, "1000");
  EXPECT_EQ(f.group, "wheel");
  EXPECT_EQ(f.working_dir, "/w d");
  EXPECT_EQ(f.memory, "1Gi");
  EXPECT_EQ(f.cpu, "1.5");
  EXPECT_EQ(f.seccomp, "mode=remove,reboot");
  EXPECT_EQ(f.caps_retain, "CAP_CHOWN,kill");
  EXPECT_EQ(f.caps_remove, "CAP_KILL");
}

TEST(RunArgs, DoubleDashWithNothingAfterMeansNoArguments) {
  RunRequest r = parse_run_args({"busybox", "--"});
  EXPECT_TRUE(r.apps[0].args_given);
  EXPECT_TRUE(r.apps[0].args.empty());
}

TEST(RunArgs, ArgumentsAfterDoubleDashAreNeverOptions) {
  RunRequest r = parse_run_args({"busybox", "--", "--net=none", "--help", "-h", "--", "", "---x", "a b"});
  EXPECT_EQ(r.apps[0].args, (Strings{"--net=none", "--help", "-h", "--", "", "---x", "a b"}));
  EXPECT_EQ(r.pod.net, "default");
}

TEST(RunArgs, TripleDashSeparatesApps) {
  RunRequest r = parse_run_args({"a", "--name=one", "--", "x", "---", "b", "--", "y", "---", "c"});
  ASSERT_EQ(r.apps.size(), 3u);
  EXPECT_EQ(r.apps[0].image, "a");
  EXPECT_EQ(r.apps[0].args, Strings{"x"});
  EXPECT_EQ(r.apps[1].image, "b");
  EXPECT_EQ(r.apps[1].args, Strings{"y"});
  EXPECT_FALSE(r.apps[1].flags.name) << "a flag after an image is that app's own";
  EXPECT_EQ(r.apps[2].image, "c");
  EXPECT_FALSE(r.apps[2].args_given);
}

TEST(RunArgs, AppFlagsBeforeTheFirstImageApplyToEveryApp) {
  RunRequest r = parse_run_args({"--memory=1G", "--environment=A=1", "--user=7", "a", "--environment=B=2", "---", "b",
                                 "--memory=2G", "--user=8"});
  ASSERT_EQ(r.apps.size(), 2u);
  EXPECT_EQ(r.apps[0].flags.memory, "1G");
  EXPECT_EQ(r.apps[0].flags.environment, (Strings{"A=1", "B=2"})) << "lists append";
  EXPECT_EQ(r.apps[0].flags.user, "7");
  EXPECT_EQ(r.apps[1].flags.memory, "2G") << "scalars replace";
  EXPECT_EQ(r.apps[1].flags.environment, Strings{"A=1"});
  EXPECT_EQ(r.apps[1].flags.user, "8");
}

// Flags too, not only options with a value: an app that does not give a
// flag keeps what was given before the first image, and may say no.
TEST(RunArgs, AppFlagsWithoutAValueBeforeTheFirstImageApplyToEveryApp) {
  RunRequest r = parse_run_args({"--readonly-rootfs", "--notify", "a", "---", "b", "--notify=no"});
  ASSERT_EQ(r.apps.size(), 2u);
  EXPECT_EQ(r.apps[0].flags.readonly_rootfs, true);
  EXPECT_EQ(r.apps[0].flags.notify, true);
  EXPECT_EQ(r.apps[1].flags.readonly_rootfs, true);
  EXPECT_EQ(r.apps[1].flags.notify, false);
  r = parse_run_args({"a", "--readonly-rootfs"});
  EXPECT_EQ(r.apps[0].flags.readonly_rootfs, true);
  EXPECT_EQ(r.apps[0].flags.notify, std::nullopt) << "not given";
  // Given twice, the last one counts; a value that is no yes or no is an error.
  r = parse_run_args({"a", "--notify=no", "--notify", "--readonly-rootfs", "--readonly-rootfs=false"});
  EXPECT_EQ(r.apps[0].flags.notify, true);
  EXPECT_EQ(r.apps[0].flags.readonly_rootfs, false);
  EXPECT_THROW(parse_run_args({"a", "--notify=maybe"}), Error);
  for (const char* yes : {"--notify=yes", "--notify=ON", "--notify=True", "--notify=1"})
    EXPECT_EQ(parse_run_args({"a", yes}).apps[0].flags.notify, true) << yes;
  for (const char* no : {"--notify=No", "--notify=off", "--notify=false", "--notify=0"})
    EXPECT_EQ(parse_run_args({"a", no}).apps[0].flags.notify, false) << no;
  EXPECT_THROW(parse_run_args({"a", "--readonly-rootfs=2x"}), Error);
}

TEST(RunArgs, HelpIsRequestedAnywhereBeforeDoubleDash) {
  EXPECT_THROW(parse_run_args({"--help"}), HelpRequested);
  EXPECT_THROW(parse_run_args({"-h"}), HelpRequested);
  EXPECT_THROW(parse_run_args({"busybox", "--help"}), HelpRequested);
  EXPECT_THROW(parse_run_args({"a", "---", "b", "-h"}), HelpRequested);
}

TEST(RunArgs, MissingImage) {
  EXPECT_EQ(run_args_error({}), "missing image name (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"--net=none"}), "missing image name (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"--", "x"}), "missing image name before '--' (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"a", "---"}), "missing image name after '---' (see 'crt run --help')");
  // An option that needs a value took the word meant as the image.
  EXPECT_EQ(run_args_error({"--memory", "busybox"}),
            "missing image name: --memory took 'busybox' as its value (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"--interactive", "--net", "none"}),
            "missing image name: --net took 'none' as its value (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"--interactive", "--memory=1M"}), "missing image name (see 'crt run --help')");
}

// crt --dir=X run …, not crt run --dir=X …: said as such.
TEST(RunArgs, CrtsOwnOptionsGoBeforeTheCommand) {
  EXPECT_EQ(run_args_error({"--dir=/tmp/x", "busybox"}),
            "--dir is an option of crt itself: put it before the command (crt --dir=/tmp/x run …)");
  EXPECT_EQ(run_args_error({"--net=none", "--config", "/etc/c.conf", "busybox"}),
            "--config is an option of crt itself: put it before the command (crt --config=/etc/c.conf run …)");
  EXPECT_EQ(test::error_of([] {
              parse_run_args({"--local-config=/x", "busybox"}, RunVerb::kPrepare);
            }),
            "--local-config is an option of crt itself: put it before the command (crt --local-config=/x prepare …)");
  EXPECT_EQ(run_args_error({"busybox", "--dir", "/tmp/x"}),
            "--dir is an option of crt itself: put it before the command (crt --dir=/tmp/x run …)");
  EXPECT_EQ(run_args_error({"a", "---", "--dir=/d", "b"}),
            "--dir is an option of crt itself: put it before the command (crt --dir=/d run …)");
  // crt run has a --debug of its own: before the first image.
  EXPECT_EQ(parse_run_args({"--debug", "busybox"}).pod.debug, true);
  EXPECT_EQ(run_args_error({"busybox", "--debug"}),
            "unknown option '--debug' for image 'busybox' (pod options go before the first image)");
}

TEST(GlobalOptionHint, NamesTheOptionWithItsValue) {
  EXPECT_EQ(global_option_hint("--dir", "/tmp/x", "status"),
            "--dir is an option of crt itself: put it before the command (crt --dir=/tmp/x status …)");
  EXPECT_EQ(global_option_hint("--dir=/a", "b", "image list"),
            "--dir is an option of crt itself: put it before the command (crt --dir=/a image list …)");
  // A value a shell would split or expand is named by what it is.
  EXPECT_EQ(global_option_hint("--dir", "my dir", "list"),
            "--dir is an option of crt itself: put it before the command (crt --dir=DIR list …)");
  EXPECT_EQ(global_option_hint("--config", "", "list"),
            "--config is an option of crt itself: put it before the command (crt --config=FILE list …)");
  EXPECT_EQ(global_option_hint("--config", "--format=json", "list"),
            "--config is an option of crt itself: put it before the command (crt --config=FILE list …)");
  EXPECT_EQ(global_option_hint("--debug", "POD", "status"),
            "--debug is an option of crt itself: put it before the command (crt --debug status …)");
  EXPECT_EQ(global_option_hint("--version", "", "list"), "--version is an option of crt itself: crt --version");
  EXPECT_EQ(global_option_hint("--app", "web", "enter"), "");
  EXPECT_EQ(global_option_hint("--directory", "x", "list"), "");
}

TEST(RunArgs, AnOptionWithoutItsValueSaysSo) {
  EXPECT_EQ(run_args_error({"busybox", "--memory"}), "option '--memory' needs a value (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"--net"}), "option '--net' needs a value (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"busybox", "--name=a", "--name=b"}),
            "option '--name' is given more than once (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"--net=none", "--net=host", "busybox"}),
            "option '--net' is given more than once (see 'crt run --help')");
}

TEST(RunArgs, AnUnknownOptionAfterTheImageIsNotCalledAPodOption) {
  EXPECT_EQ(run_args_error({"busybox", "--bogus"}),
            "unknown option '--bogus' for image 'busybox' (see 'crt run --help')");
  EXPECT_EQ(run_args_error({"a", "---", "--bogus", "b"}), "unknown option '--bogus' (see 'crt run --help')");
}

TEST(RunArgs, PodOptionAfterTheImageIsAnError) {
  EXPECT_EQ(run_args_error({"busybox", "--net=none"}),
            "unknown option '--net=none' for image 'busybox' (pod options go before the first image)");
  EXPECT_NE(run_args_error({"a", "---", "--interactive", "b"}).find("pod options go before the first image"),
            std::string::npos);
}

TEST(RunArgs, UnknownOptionIsAnError) {
  EXPECT_EQ(run_args_error({"--bogus", "busybox"}), "unknown option '--bogus' (see 'crt run --help')");
  EXPECT_NE(run_args_error({"busybox", "--bogus"}).find("'--bogus'"), std::string::npos);
}

TEST(RunArgs, StrayArgumentAfterTheImageIsAnError) {
  EXPECT_EQ(run_args_error({"busybox", "echo"}),
            "unexpected argument 'echo' after image 'busybox': arguments for the app go after '--', another app "
            "after '---'");
}

TEST(RunArgs, InvalidNetIsAnError) {
  EXPECT_EQ(run_args_error({"--net=host,default", "busybox"}),
            "invalid --net 'host,default': 'host' cannot be combined with other networks");
  EXPECT_EQ(run_args_error({"--net=a b", "busybox"}),
            "invalid --net 'a b': network name 'a b' must be letters, digits, '-', '_' or '.'");
  EXPECT_NO_THROW(parse_run_args({"--net=bridge", "busybox"}));
}

TEST(RunArgs, StopTimeoutIsAPositiveDurationWithADefault) {
  EXPECT_EQ(parse_stop_timeout(parse_run_args({"busybox"}).pod.stop_timeout), kDefaultStopTimeout);
  EXPECT_EQ(parse_stop_timeout(parse_run_args({"--stop-timeout=90", "busybox"}).pod.stop_timeout),
            std::chrono::seconds(90));
  EXPECT_EQ(parse_stop_timeout(parse_run_args({"--stop-timeout", "1m30s", "busybox"}).pod.stop_timeout),
            std::chrono::seconds(90));
  EXPECT_EQ(parse_stop_timeout("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(run_args_error({"--stop-timeout=soon", "busybox"}),
            "--stop-timeout: invalid duration 'soon': expected e.g. 30s, 5m, 2h, 1h30m or seconds");
  EXPECT_EQ(run_args_error({"--stop-timeout=0s", "busybox"}), "--stop-timeout: must be longer than 0 (got '0s')");
  EXPECT_EQ(run_args_error({"busybox", "--stop-timeout=5s"}),
            "unknown option '--stop-timeout=5s' for image 'busybox' (pod options go before the first image)");
}

// The hidden --plugin-time-limit (for tests) is a duration, checked with the
// rest of the arguments: a bad one fails before any pod is made of them.
TEST(RunArgs, PluginTimeLimitIsADurationCheckedWithTheArguments) {
  EXPECT_EQ(parse_plugin_time_limit(parse_run_args({"busybox"}).pod.plugin_time_limit), std::nullopt);
  EXPECT_EQ(parse_plugin_time_limit(parse_run_args({"--plugin-time-limit=1s", "busybox"}).pod.plugin_time_limit),
            std::chrono::seconds(1));
  EXPECT_EQ(run_args_error({"--plugin-time-limit=soon", "busybox"}),
            "--plugin-time-limit: invalid duration 'soon': expected e.g. 30s, 5m, 2h, 1h30m or seconds");
  EXPECT_EQ(test::error_of([] {
              parse_run_args({"--plugin-time-limit=1s", "busybox"}, RunVerb::kPrepare);
            }).rfind("unknown option", 0),
            0U);
  EXPECT_EQ(run_help(RunVerb::kRun).find("--plugin-time-limit"), std::string::npos);
}

TEST(RunArgs, OptionWithoutValueIsAnError) { EXPECT_NE(run_args_error({"busybox", "--memory"}), "(no error)"); }

TEST(RunArgs, RmIsAPodFlag) {
  EXPECT_FALSE(parse_run_args({"busybox"}).pod.remove);
  EXPECT_TRUE(parse_run_args({"--rm", "busybox"}).pod.remove);
  EXPECT_TRUE(parse_run_args({"--rm", "--detach", "busybox"}).pod.remove);
  // With a value, as crt-generator passes a pod file's boolean keys.
  EXPECT_TRUE(parse_run_args({"--rm=yes", "busybox"}).pod.remove);
  EXPECT_FALSE(parse_run_args({"--rm=no", "busybox"}).pod.remove);
  EXPECT_FALSE(parse_run_args({"busybox", "--", "--rm"}).pod.remove) << "after '--' it belongs to the app";
  EXPECT_EQ(run_args_error({"busybox", "--rm"}),
            "unknown option '--rm' for image 'busybox' (pod options go before the first image)");
}

TEST(RunArgs, InteractiveNeedsExactlyOneApp) {
  EXPECT_EQ(run_args_error({"--interactive", "a", "---", "b"}), "--interactive needs exactly one app");
  EXPECT_NO_THROW(parse_run_args({"--interactive", "a"}));
}

TEST(RunArgs, QuietIsAPodFlagOfPrepareOnly) {
  RunRequest r = parse_run_args({"-q", "busybox", "--", "/bin/grep", "-q", "x", "/etc/passwd"}, RunVerb::kPrepare);
  EXPECT_TRUE(r.pod.quiet);
  EXPECT_EQ(r.apps[0].args, (Strings{"/bin/grep", "-q", "x", "/etc/passwd"})) << "the app's own -q stays";
  r = parse_run_args({"--quiet", "--net=none", "busybox"}, RunVerb::kPrepare);
  EXPECT_TRUE(r.pod.quiet);
  EXPECT_EQ(r.pod.net, "none");

  r = parse_run_args({"busybox", "--", "--quiet", "-q", "---", "busybox", "--", "-q"}, RunVerb::kPrepare);
  EXPECT_FALSE(r.pod.quiet) << "after '--' it belongs to the app";
  EXPECT_EQ(r.apps[0].args, (Strings{"--quiet", "-q"}));
  EXPECT_EQ(r.apps[1].args, Strings{"-q"});

  EXPECT_EQ(run_args_error({"--quiet", "busybox"}), "unknown option '--quiet' (see 'crt run --help')")
      << "not an option of crt run";
  try {
    parse_run_args({"busybox", "-q"}, RunVerb::kPrepare);
    ADD_FAILURE() << "-q after the image was taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown option '-q' for image 'busybox' (pod options go before the first image)");
  }
}

TEST(RunArgs, RegistryOptionsOfImagePullArePodFlags) {
  RunRequest r = parse_run_args({"--creds=u:p w", "--authfile", "/a.json", "--authfile=/b.json",
                                 "--insecure-registry=127.0.0.1:5000", "--ca-file", "/ca.pem", "img"});
  EXPECT_EQ(r.pod.registry.creds, "u:p w");
  EXPECT_EQ(r.pod.registry.authfiles, (Strings{"/a.json", "/b.json"}));
  EXPECT_EQ(r.pod.registry.insecure, Strings{"127.0.0.1:5000"});
  EXPECT_EQ(r.pod.registry.ca_file, "/ca.pem");
  r = parse_run_args({"--creds", "u:p", "img"}, RunVerb::kPrepare);
  EXPECT_EQ(r.pod.registry.creds, "u:p");
  EXPECT_EQ(run_args_error({"img", "--creds=u:p"}),
            "unknown option '--creds=u:p' for image 'img' (pod options go before the first image)");
  EXPECT_EQ(run_args_error({"--platform=linux/arm64", "img"}),
            "unknown option '--platform=linux/arm64' (see 'crt run --help')")
      << "a pod runs the host's platform";
}

TEST(AppFlags, MergeReplacesScalarsAndAppendsLists) {
  AppFlags base;
  base.name = "a";
  base.memory = "1G";
  base.environment = {"A=1"};
  AppFlags over;
  over.memory = "2G";
  over.environment = {"B=2"};
  base.merge(over);
  EXPECT_EQ(base.name, "a");
  EXPECT_EQ(base.memory, "2G");
  EXPECT_EQ(base.environment, (Strings{"A=1", "B=2"}));
}

TEST(RunHelp, DescribesUsageOptionsAndExitStatus) {
  std::string h = run_help();
  EXPECT_EQ(h.rfind("Usage: crt run ", 0), 0u);
  for (const char* needle : {"--net", "--interactive", "--memory", "--cpu", "--seccomp", "--caps-retain", "---", "254"})
    EXPECT_NE(h.find(needle), std::string::npos) << needle;
  EXPECT_EQ(h.find("--quiet"), std::string::npos);
  for (const char* needle : {"--pull-policy", "--insecure-registry", "--creds", "--authfile", "--ca-file"})
    EXPECT_NE(h.find(needle), std::string::npos) << needle;
}

TEST(RunHelp, OfPrepareNamesItAndItsQuiet) {
  std::string h = run_help(RunVerb::kPrepare);
  EXPECT_EQ(h.rfind("Usage: crt prepare ", 0), 0u);
  EXPECT_NE(h.find("-q,--quiet"), std::string::npos);
  EXPECT_NE(h.find("crt run-prepared"), std::string::npos);
  for (const char* started : {"  --interactive ", "  --debug ", "  --detach ", "  --rm ", "  --stop-timeout "})
    EXPECT_EQ(h.find(started), std::string::npos) << started << " is an option of crt run-prepared";
  EXPECT_NE(run_help().find("  --interactive "), std::string::npos);
}

}  // namespace
}  // namespace crt::pod
