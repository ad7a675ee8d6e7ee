#include "pod/app_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/seccomp.hpp"

namespace crt::pod {
namespace {

using Strings = std::vector<std::string>;

TEST(DefaultAppName, BaseNameLowercased) {
  EXPECT_EQ(default_app_name("busybox"), "busybox");
  EXPECT_EQ(default_app_name("docker.io/library/Nginx:1.25"), "nginx");
  EXPECT_EQ(default_app_name("localhost:5000/team/my_app:v1"), "my-app");
}

TEST(DefaultAppName, InvalidCharactersBecomeDashesTrimmedAtTheEnds) {
  EXPECT_EQ(default_app_name("_x.y_"), "x-y");
  EXPECT_EQ(default_app_name(".hidden"), "hidden");
  EXPECT_EQ(default_app_name("caf\xc3\xa9"), "caf");
  EXPECT_EQ(default_app_name("sha256:a0beac218f74e63dfbc53271417f8228ff604751e41356ea35d2e041f3bbcb33"),
            "a0beac218f74");
  EXPECT_EQ(default_app_name("a0beac218f74e63dfbc53271417f8228ff604751e41356ea35d2e041f3bbcb33"), "a0beac218f74");
  EXPECT_TRUE(is_image_id("a0beac21"));
  EXPECT_TRUE(is_image_id("sha256:a0beac21"));
  EXPECT_FALSE(is_image_id("abc"));
  EXPECT_FALSE(is_image_id("busybox"));
}

TEST(DefaultAppName, NothingUsableGivesApp) {
  EXPECT_EQ(default_app_name("___"), "app");
  EXPECT_EQ(default_app_name(""), "app");
}

TEST(DefaultAppName, LongNamesAreCutTo63) {
  EXPECT_EQ(default_app_name(std::string(70, 'a')), std::string(63, 'a'));
  EXPECT_EQ(default_app_name(std::string(62, 'a') + "_b"), std::string(62, 'a'));
}

TEST(DefaultAppName, IsAlwaysValidUnlessReserved) {
  for (const char* ref : {"A", "x:y", "reg.io/Ab.C_d-e:1", "1", "--", "a/b/c/"}) {
    std::string name = default_app_name(ref);
    EXPECT_NO_THROW(validate_app_name(name)) << ref << " -> " << name;
  }
}

store::RunConfig image_with(Strings entrypoint, Strings cmd) {
  store::RunConfig c;
  c.entrypoint = std::move(entrypoint);
  c.cmd = std::move(cmd);
  return c;
}

TEST(AppCommand, EntrypointThenCmd) {
  EXPECT_EQ(app_command({}, {}, false, image_with({"/bin/ep", "-x"}, {"a", "b"})), (Strings{"/bin/ep", "-x", "a", "b"}));
  EXPECT_EQ(app_command({}, {}, false, image_with({}, {"/bin/sh"})), Strings{"/bin/sh"});
  EXPECT_TRUE(app_command({}, {}, false, image_with({}, {})).empty());
}

TEST(AppCommand, ArgumentsReplaceCmd) {
  EXPECT_EQ(app_command({}, {"x", ""}, true, image_with({"/bin/ep"}, {"a"})), (Strings{"/bin/ep", "x", ""}));
  EXPECT_EQ(app_command({}, {"/bin/echo", "hi"}, true, image_with({}, {"/bin/sh"})), (Strings{"/bin/echo", "hi"}));
}

TEST(AppCommand, DoubleDashAloneDropsCmd) {
  EXPECT_EQ(app_command({}, {}, true, image_with({"/bin/ep"}, {"a"})), Strings{"/bin/ep"});
}

TEST(AppCommand, ExecReplacesEntrypointAndCmd) {
  AppFlags f;
  f.exec = "/bin/other";
  EXPECT_EQ(app_command(f, {}, false, image_with({"/bin/ep"}, {"a"})), Strings{"/bin/other"});
  EXPECT_EQ(app_command(f, {"1", "2"}, true, image_with({"/bin/ep"}, {"a"})), (Strings{"/bin/other", "1", "2"}));
}

class MakeAppManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_.id = "sha256:" + std::string(64, 'e');
    image_.names = {"busybox:latest"};
    image_.layers = {"sha256:" + std::string(64, 'f')};
    image_.config.cmd = {"/bin/sh"};
    req_.image = "busybox";
  }
  AppManifest make() { return make_app_manifest(req_, pod_, image_); }
  std::string error() {
    try {
      make();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  static const std::string* env(const AppManifest& a, const std::string& key) {
    for (const auto& [k, v] : a.env)
      if (k == key) return &v;
    return nullptr;
  }

  store::Image image_;
  AppRequest req_;
  PodFlags pod_;
};

TEST_F(MakeAppManifest, Defaults) {
  AppManifest a = make();
  EXPECT_EQ(a.name, "busybox");
  EXPECT_EQ(a.image.name, "busybox:latest");
  EXPECT_EQ(a.image.id, image_.id);
  EXPECT_EQ(a.image.layers, image_.layers);
  EXPECT_EQ(a.argv, Strings{"/bin/sh"});
  EXPECT_TRUE(a.exec_path.empty()) << "resolved later, inside the rootfs";
  EXPECT_EQ(a.user, "0");
  EXPECT_EQ(a.group, "");
  EXPECT_FALSE(a.uid);
  EXPECT_EQ(a.working_dir, "/");
  EXPECT_FALSE(a.memory_max);
  EXPECT_FALSE(a.cpu_millis);
  EXPECT_EQ(a.seccomp.entries, sandbox::default_syscall_filter().entries);
  EXPECT_EQ(a.capabilities, sandbox::default_capabilities());
  ASSERT_EQ(a.env.size(), 2u);
  EXPECT_EQ(a.env[0], (std::pair<std::string, std::string>{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_EQ(a.env[1], (std::pair<std::string, std::string>{"CRT_APP_NAME", "busybox"}));
}

TEST_F(MakeAppManifest, ImageWithoutNamesUsesTheRequestedReference) {
  image_.names.clear();
  req_.image = "sha256:" + std::string(64, 'e');
  EXPECT_EQ(make().image.name, req_.image);
}

TEST_F(MakeAppManifest, EnvironmentLayersImageThenPodThenApp) {
  image_.config.env = {"PATH=/img/bin", "A=image", "KEEP=1"};
  pod_.set_env = {"A=pod", "B=x=y;z"};
  req_.flags.environment = {"A=app $HOME 100%", "EMPTY="};
  AppManifest a = make();
  EXPECT_EQ(*env(a, "PATH"), "/img/bin");
  EXPECT_EQ(*env(a, "A"), "app $HOME 100%");
  EXPECT_EQ(*env(a, "B"), "x=y;z");
  EXPECT_EQ(*env(a, "KEEP"), "1");
  EXPECT_EQ(*env(a, "EMPTY"), "");
  EXPECT_EQ(a.env.front().first, "PATH") << "a replaced variable keeps its place";
  EXPECT_EQ(a.env.back(), (std::pair<std::string, std::string>{"CRT_APP_NAME", "busybox"}));
}

TEST_F(MakeAppManifest, CrtAppNameCannotBeOverridden) {
  req_.flags.environment = {"CRT_APP_NAME=evil"};
  EXPECT_EQ(error(),
            "app 'busybox': --environment 'CRT_APP_NAME=evil': CRT_APP_NAME is crt's, the app's name (--name sets it)");
  req_.flags.environment.clear();
  pod_.set_env = {"CRT_APP_NAME=evil"};
  EXPECT_NE(error().find("--set-env 'CRT_APP_NAME=evil': CRT_APP_NAME is crt's"), std::string::npos) << error();
  pod_.set_env.clear();
  image_.config.env = {"CRT_APP_NAME=image"};  // an image's is replaced, as it always was
  EXPECT_EQ(*env(make(), "CRT_APP_NAME"), "busybox");
}

TEST_F(MakeAppManifest, InvalidEnvironmentIsAnError) {
  for (const char* bad : {"NOEQUALS", "=value", "1A=x", "A-B=x", "A B=x", "A.B=x", "\xc3\xa9=x"}) {
    req_.flags.environment = {bad};
    EXPECT_NE(error().find("--environment"), std::string::npos) << bad << ": " << error();
  }
  req_.flags.environment.clear();
  pod_.set_env = {"bad"};
  EXPECT_NE(error().find("--set-env"), std::string::npos);
  pod_.set_env.clear();
  image_.config.env = {"=bad"};
  EXPECT_NE(error().find("image environment variable"), std::string::npos);
}

// An image's Env entry without '=' unsets the variable, as docker and
// containerd take it: every run of the image was refused.
TEST_F(MakeAppManifest, AnImageVariableWithoutAValueUnsetsIt) {
  image_.config.env = {"A=1", "B=2", "A", "NEVER"};
  AppManifest a = make();
  auto has = [&](const std::string& name) {
    return std::any_of(a.env.begin(), a.env.end(), [&](const auto& kv) { return kv.first == name; });
  };
  EXPECT_FALSE(has("A"));
  EXPECT_FALSE(has("NEVER"));
  EXPECT_TRUE(has("B"));
  EXPECT_TRUE(has("PATH"));
}

// Docker takes any name without '=' in an image's Env; systemd ignores one
// that is no shell's name, and would start the app without it.
TEST_F(MakeAppManifest, AnImageVariableSystemdCannotPassNamesTheImageAndTheVariable) {
  image_.config.env = {"PATH=/bin", "my.var=1"};
  EXPECT_EQ(error(),
            "app 'busybox': image 'busybox:latest' sets the environment variable 'my.var' (its Env), which systemd "
            "cannot give an app (a variable name holds letters, digits and '_'; it would start the app without it): "
            "give the variable such a name in the image");
  image_.config.env = {"9LIVES=1"};
  EXPECT_THAT(error(), ::testing::HasSubstr("variable '9LIVES' (its Env), which systemd cannot give an app (a variable "
                                            "name cannot start with a digit;"));
}

TEST_F(MakeAppManifest, UserAndGroupFromTheImage) {
  image_.config.user = "1000:100";
  AppManifest a = make();
  EXPECT_EQ(a.user, "1000");
  EXPECT_EQ(a.group, "100");
  image_.config.user = "nobody";
  EXPECT_EQ(make().group, "");
  // One that names no user is no root: said, unless --user replaces it.
  image_.config.user = ":";
  EXPECT_EQ(error(), "app 'busybox': the image's User ':': the user before ':' is empty");
  req_.flags.user = "0";
  EXPECT_EQ(make().user, "0");
}

TEST_F(MakeAppManifest, UserFlagDropsTheImagesGroup) {
  image_.config.user = "1000:100";
  req_.flags.user = "daemon";
  AppManifest a = make();
  EXPECT_EQ(a.user, "daemon");
  EXPECT_EQ(a.group, "");
  req_.flags.group = "wheel";
  EXPECT_EQ(make().group, "wheel");
}

TEST_F(MakeAppManifest, UserFlagMayNameTheGroupToo) {
  req_.flags.user = "1000:100";
  AppManifest a = make();
  EXPECT_EQ(a.user, "1000");
  EXPECT_EQ(a.group, "100");
  req_.flags.group = "wheel";
  EXPECT_NE(error().find("names a group, and so does --group"), std::string::npos) << error();
  req_.flags.group.reset();
  req_.flags.user = "www-data:";
  EXPECT_NE(error().find("the group after ':' is empty"), std::string::npos) << error();
  req_.flags.user = "a:b:c";
  EXPECT_NE(error().find("with one ':' at most"), std::string::npos) << error();
}

TEST_F(MakeAppManifest, GroupFlagAloneKeepsTheImagesUser) {
  image_.config.user = "1000:100";
  req_.flags.group = "200";
  AppManifest a = make();
  EXPECT_EQ(a.user, "1000");
  EXPECT_EQ(a.group, "200");
}

TEST_F(MakeAppManifest, EmptyUserIsAnError) {
  req_.flags.user = "";
  EXPECT_NE(error(), "(no error)");
}

TEST_F(MakeAppManifest, WorkingDirectory) {
  image_.config.working_dir = "/srv/app";
  EXPECT_EQ(make().working_dir, "/srv/app");
  req_.flags.working_dir = "/-x/.y z";
  EXPECT_EQ(make().working_dir, "/-x/.y z");
  for (auto [given, taken] : std::vector<std::pair<std::string, std::string>>{
           {"/tmp/./x", "/tmp/x"}, {"/tmp/../x/", "/x"}, {"/../..", "/"}, {"//srv//a/", "/srv/a"}, {"/./", "/"}}) {
    req_.flags.working_dir = given;
    EXPECT_EQ(make().working_dir, taken) << given;
  }
  req_.flags.working_dir = "relative";
  EXPECT_NE(error().find("must be an absolute path"), std::string::npos);
}

TEST_F(MakeAppManifest, LimitsAreParsed) {
  req_.flags.memory = "100Mi";
  req_.flags.cpu = "1500m";
  AppManifest a = make();
  EXPECT_EQ(a.memory_max, 100u << 20);
  EXPECT_EQ(a.cpu_millis, 1500u);
  req_.flags.cpu = "0";
  EXPECT_NE(error(), "(no error)");
}

// The default filter has the mount calls where the app may make mount
// namespaces: said so, or for keeping CAP_SYS_ADMIN (as Docker's filter
// allows them with it); not by default, and not past a filter of the user's.
TEST_F(MakeAppManifest, TheDefaultFilterHasTheMountCallsWhereMountNamespacesAreAllowed) {
  auto has_mount = [](const AppManifest& a) {
    return std::find(a.seccomp.entries.begin(), a.seccomp.entries.end(), "@mount") != a.seccomp.entries.end();
  };
  EXPECT_FALSE(has_mount(make()));
  req_.flags.allow_namespaces = "user";
  EXPECT_FALSE(has_mount(make()));
  req_.flags.allow_namespaces = "user,mnt";
  EXPECT_TRUE(has_mount(make()));
  req_.flags.allow_namespaces.reset();
  req_.flags.caps_retain = "CAP_SYS_ADMIN,CAP_CHOWN";
  EXPECT_TRUE(has_mount(make()));
  req_.flags.allow_namespaces = "none";
  EXPECT_FALSE(has_mount(make()));
  req_.flags.allow_namespaces.reset();
  req_.flags.seccomp = "mode=retain,@system-service";
  EXPECT_FALSE(has_mount(make()));
}

TEST_F(MakeAppManifest, SeccompAndCapabilities) {
  req_.flags.seccomp = "mode=remove,errno=EACCES,@mount,reboot";
  req_.flags.caps_retain = "chown,CAP_KILL";
  AppManifest a = make();
  EXPECT_FALSE(a.seccomp.allow_list);
  EXPECT_EQ(a.seccomp.entries, (Strings{"@mount", "reboot"}));
  EXPECT_EQ(a.seccomp.error_number, "EACCES");
  EXPECT_EQ(a.capabilities, (Strings{"CAP_CHOWN", "CAP_KILL"}));
  req_.flags.caps_remove = "kill";
  EXPECT_NE(error(), "(no error)") << "retain and remove together";
}

TEST_F(MakeAppManifest, NoCommandIsAnError) {
  image_.config.cmd.clear();
  EXPECT_EQ(error(), "app 'busybox': image 'busybox' has no command: give one with --exec or after '--'");
  req_.flags.exec = "";
  EXPECT_EQ(error(), "app 'busybox': the command to run is empty");
}

TEST_F(MakeAppManifest, NameFlagIsValidated) {
  req_.flags.name = "Bad_Name";
  EXPECT_EQ(error().rfind("invalid app name 'Bad_Name': ", 0), 0u) << error();
  req_.flags.name = "good-name";
  EXPECT_EQ(make().name, "good-name");
  EXPECT_EQ(*env(make(), "CRT_APP_NAME"), "good-name");
}

TEST_F(MakeAppManifest, AnEmptyDashDashThatLeavesNoCommandSaysSo) {
  image_.config.entrypoint.clear();
  image_.config.cmd = {"/bin/sh"};
  req_.args_given = true;
  EXPECT_NE(error().find("'--' with nothing after it leaves image"), std::string::npos) << error();
  image_.config.entrypoint = {"/bin/app"};  // then it runs the entrypoint alone
  EXPECT_EQ(make().argv, (Strings{"/bin/app"}));
}

TEST_F(MakeAppManifest, ArgumentsAreKeptVerbatim) {
  req_.args = {"-c", "echo \"$HOME\" 100% ';' \n", "", "caf\xc3\xa9"};
  req_.args_given = true;
  req_.flags.exec = "/bin/sh";
  EXPECT_EQ(make().argv, (Strings{"/bin/sh", "-c", "echo \"$HOME\" 100% ';' \n", "", "caf\xc3\xa9"}));
}

TEST(ValidateApps, DuplicateNamesAreAnError) {
  AppManifest a;
  a.name = "web";
  AppManifest b;
  b.name = "db";
  EXPECT_NO_THROW(validate_apps({a, b}));
  EXPECT_THROW(validate_apps({a, b, a}), Error);
  EXPECT_NO_THROW(validate_apps({}));
}

}  // namespace
}  // namespace crt::pod

namespace crt::pod {
namespace {

TEST(StopSignal, NamesNumbersAndShortNames) {
  EXPECT_EQ(normalize_stop_signal("SIGQUIT"), "SIGQUIT");
  EXPECT_EQ(normalize_stop_signal("quit"), "SIGQUIT");
  EXPECT_EQ(normalize_stop_signal("9"), "SIGKILL");
  EXPECT_EQ(normalize_stop_signal("SIGRTMIN+3"), "SIGRTMIN+3");
  EXPECT_THROW(normalize_stop_signal("SIGNOPE"), Error);
  EXPECT_THROW(normalize_stop_signal("99"), Error);
  EXPECT_THROW(normalize_stop_signal(""), Error);
}

TEST(ImageRecords, StopSignalPortsAndVolumesReachTheAppManifest) {
  AppRequest req;
  req.image = "reg.example/db:1";
  store::Image im;
  im.id = "sha256:" + std::string(64, 'a');
  im.config.cmd = {"/db"};
  im.config.stop_signal = "int";
  im.config.exposed_ports = {"5432/tcp", "9187/tcp"};
  im.config.volumes = {"/data"};
  AppManifest app = make_app_manifest(req, PodFlags{}, im);
  EXPECT_EQ(app.stop_signal, "SIGINT");
  EXPECT_EQ(app.exposed_ports, (Strings{"5432/tcp", "9187/tcp"}));
  EXPECT_EQ(app.image_volumes, Strings{"/data"});
  im.config.stop_signal = "SIGWHAT";
  try {
    make_app_manifest(req, PodFlags{}, im);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "app 'db': the image's StopSignal: unknown signal 'SIGWHAT'");
  }
}

}  // namespace
}  // namespace crt::pod

namespace crt::pod {
namespace {

TEST(MountTargets, AreOneSpellingOfTheirDirectory) {
  EXPECT_EQ(parse_mount("volume=db,target=/var/lib/mysql/").target, "/var/lib/mysql");
  EXPECT_EQ(parse_mount("volume=db,target=//data/.").target, "/data");
  EXPECT_EQ(parse_mount("volume=db,target=/srv/../data").target, "/data");
  try {
    parse_mount("volume=db,target=/.");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--mount 'volume=db,target=/.': target cannot be the app's root directory");
  }
}

// --volume and --mount split at commas: a comma in a path is "\,", a
// backslash before one "\\".
TEST(VolumeSpecs, ACommaInAPathIsEscaped) {
  Volume v = parse_volume(R"(data,kind=host,source=/srv/a\,b,readOnly=true)");
  EXPECT_EQ(v.source, "/srv/a,b");
  EXPECT_TRUE(v.read_only);
  v = parse_volume(R"(data,kind=host,source=/srv/a\\,readOnly=true)");
  EXPECT_EQ(v.source, R"(/srv/a\)");
  EXPECT_TRUE(v.read_only);
  EXPECT_EQ(parse_volume(R"(data,kind=host,source=/srv/a\b\)").source, R"(/srv/a\b\)");
  EXPECT_EQ(parse_mount(R"(volume=db,target=/x\,y)").target, "/x,y");
  try {
    parse_volume("data,kind=host,source=/srv/a,b");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--volume 'data,kind=host,source=/srv/a,b': expected KEY=VALUE, not 'b'");
  }
}

// prepare-app mounts these once the volumes are mounted: a volume there
// would be hidden.
TEST(MountTargets, WhereThePodMountsForEveryAppAreRefused) {
  for (const char* target : {"/proc", "/proc/x", "/sys/", "/dev", "/dev/shm", "/etc/hosts", "/run/systemd/journal"})
    EXPECT_THROW(parse_mount(std::string("volume=db,target=") + target), Error) << target;
  for (const char* target : {"/process", "/devices", "/etc/hosts.d", "/run/systemd", "/etc", "/run"})
    EXPECT_EQ(parse_mount(std::string("volume=db,target=") + target).target, target);
  try {
    parse_mount("volume=db,target=/dev/shm");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "--mount 'volume=db,target=/dev/shm': the pod mounts '/dev' for every app: a volume on '/dev/shm' "
                 "would be hidden");
  }
}

// The user's volume on an image's VOLUME, spelt differently, is that
// volume: no empty one of the image's goes on top of it.
TEST(MountTargets, AUsersVolumeTakesTheImagesVolumeHoweverSpelt) {
  PodManifest m;
  AppManifest app;
  app.name = "db";
  app.image_volumes = {"/var/lib/mysql", "/var/lib/mysql/", "/cache/"};
  app.mounts = {parse_mount("volume=data,target=/var/lib/mysql/")};
  m.apps.push_back(app);
  plan_volumes(m, {"data,kind=empty"});
  ASSERT_EQ(m.volumes.size(), 2u);
  EXPECT_EQ(m.volumes[0].name, "data");
  EXPECT_EQ(m.volumes[1].copy_from, "/cache");
  ASSERT_EQ(m.apps[0].mounts.size(), 2u);
  EXPECT_EQ(m.apps[0].mounts[1].target, "/cache");
}

// An image's volume no mount can be made for is left out, with a warning
// naming the app, the volume, the image and why; one that climbs with '..'
// is the path it names, as docker takes it, and said.
TEST(MountTargets, ImageVolumesLeftOutOrMovedAreSaid) {
  PodManifest m;
  AppManifest app;
  app.name = "db";
  app.image.name = "db:1";
  app.image_volumes = {"/", "data", "/proc/x", "/../../srv", "/cache"};
  m.apps.push_back(app);
  std::vector<std::string> told;
  plan_volumes(m, {}, [&](std::string_view s) { told.emplace_back(s); });
  const std::string left = "warning: app 'db': the volume ";
  const std::string stays = "): its files stay in the app's rootfs, kept with the pod";
  EXPECT_EQ(told, (Strings{left + "'/' of image 'db:1' is left out (target cannot be the app's root directory" + stays,
                           left + "'data' of image 'db:1' is left out (not an absolute path" + stays,
                           left +
                               "'/proc/x' of image 'db:1' is left out (the pod mounts '/proc' for every app: a "
                               "volume on '/proc/x' would be hidden" +
                               stays,
                           left + "'/../../srv' of image 'db:1' is mounted on '/srv', the path it names"}));
  ASSERT_EQ(m.apps[0].mounts.size(), 2u);
  EXPECT_EQ(m.apps[0].mounts[0].target, "/srv");
  EXPECT_EQ(m.apps[0].mounts[1].target, "/cache");
}

}  // namespace
}  // namespace crt::pod
