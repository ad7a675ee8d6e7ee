// crt inspect: figures from procfs and cgroupfs, compared with the app's
// own /proc entries.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/json_text.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using nlohmann::json;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

class InspectTest : public PodTest {};

TEST_F(InspectTest, ShowsWhatTheKernelSays) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--memory=100M", "--cpu=200m", "--user=33",
                      "--environment=API_TOKEN=hunter2", "--environment=PLAIN=visible",
                      "--environment=LINES=a\nb\\c\x1b[0m", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  pid_t pid = -1;
  for (int i = 0; i < 500 && pid < 0; ++i) {
    pid = wait_app_pid(uuid, "busybox");
    if (pid > 0 && read_file("/proc/" + std::to_string(pid) + "/comm") != "sleep\n") pid = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(pid, 0);
  Result r = crt({"inspect", uuid, "--format=json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json app = crt::json_text::parse(r.out)["apps"][0];
  EXPECT_EQ(app["pid"], pid);
  EXPECT_EQ(app["user"]["uid"], 33);
  EXPECT_EQ(app["capabilities"]["bounding_hex"], proc_status(pid, "CapBnd"));
  EXPECT_EQ(app["capabilities"]["bounding"].size(), 14U);
  EXPECT_EQ(app["seccomp"]["mode"], "filter");
  EXPECT_GE(app["seccomp"]["filters"].get<int>(), 1);
  for (const char* kind : {"mnt", "pid", "uts", "ipc", "cgroup"}) EXPECT_TRUE(app["namespaces"][kind]["differs_from_host"]) << kind;
  EXPECT_FALSE(app["namespaces"]["user"]["differs_from_host"]);
  EXPECT_EQ(app["namespaces"]["mnt"]["id"], std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/mnt").string());
  const json& res = app["resources"];
  EXPECT_THAT(res["cgroup"].get<std::string>(), HasSubstr("/system.slice/busybox.service"));
  // The limits only where the host's cgroups have the controllers (not in
  // a cgroup-v2-only host booted on a hybrid machine, whose v1 hierarchies
  // hold them).
  const bool limits = host_has_controller("memory") && host_has_controller("cpu");
  if (limits) {
    EXPECT_EQ(res["memory_max"], "99999744");  // 100M, page-rounded
  }
  // The directories of the app's own cgroups, each holding the app, one of
  // them with its memory limit (on a host with v1 controllers the memory
  // hierarchy's path is not the name=systemd one).
  ASSERT_FALSE(res.value("cgroup_dirs", json::array()).empty()) << res.dump();
  bool limit_seen = false;
  for (const auto& d : res["cgroup_dirs"]) {
    std::string dir = d.get<std::string>();
    EXPECT_THAT(dir, ContainsRegex("^/sys/fs/cgroup/.*/system.slice/busybox.service$"));
    EXPECT_THAT(read_file(dir + "/cgroup.procs"), ContainsRegex("(^|\n)" + std::to_string(pid) + "\n")) << dir;
    for (const char* f : {"/memory.max", "/memory.limit_in_bytes"})
      if (std::filesystem::exists(dir + f)) limit_seen = limit_seen || read_file(dir + f) == "99999744\n";
  }
  if (limits) {
    EXPECT_TRUE(limit_seen) << res["cgroup_dirs"].dump();
    if (res.contains("cpu_quota_us")) {
      EXPECT_EQ(res["cpu_quota_us"], "20000");
    } else {
      EXPECT_EQ(res["cpu_max"], "20000 100000");
    }
  }
  // The app's own CPU time, or the pod's said to be the pod's.
  EXPECT_TRUE(res.contains("cpu_usage_usec") || res.contains("cpu_usage_nsec") || res.contains("pod_cpu_usage_nsec"))
      << res.dump();
  bool root_overlay = false;
  for (const auto& m : app["mounts"])
    if (m["target"] == "/" && m["type"] == "overlay")
      root_overlay = m["upperdir"].get<std::string>().find(uuid) != std::string::npos &&
                     m["lowerdir"].get<std::string>().find("/store/trees/") != std::string::npos;
  EXPECT_TRUE(root_overlay) << app["mounts"].dump();
  for (const auto& m : app["mounts"]) {
    if (m["type"] != "overlay") continue;
    EXPECT_FALSE(m["lowerdirs"].empty()) << m.dump();
    for (const auto& l : m["lowerdirs"]) EXPECT_TRUE(std::filesystem::is_directory(l.get<std::string>())) << l;
    EXPECT_TRUE(std::filesystem::is_directory(m["upperdir"].get<std::string>())) << m.dump();
  }
  std::string env = app["environment"].dump();
  EXPECT_THAT(env, HasSubstr("API_TOKEN=***"));
  EXPECT_THAT(env, HasSubstr("PLAIN=visible"));
  EXPECT_THAT(env, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(app["unit"].get<std::string>(), HasSubstr("MemoryMax=100000000"));
  // The unit does not give away what the environment hides.
  EXPECT_THAT(app["unit"].get<std::string>(), HasSubstr("\nEnvironment=\"API_TOKEN=***\"\n"));
  EXPECT_THAT(app["unit"].get<std::string>(), HasSubstr("\nEnvironment=\"PLAIN=visible\"\n"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("hunter2")));
  r = crt({"inspect", uuid, "--show-env", "--format=json"});
  EXPECT_THAT(r.out, HasSubstr("API_TOKEN=hunter2"));
  EXPECT_THAT(crt::json_text::parse(r.out)["apps"][0]["unit"].get<std::string>(),
              HasSubstr("\nEnvironment=\"API_TOKEN=hunter2\"\n"));
  // The manifest hides what inspect hides, and shows it as inspect does.
  r = crt({"cat-manifest", uuid});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("hunter2")));
  json env_of = crt::json_text::parse(r.out)["apps"][0]["env"];
  EXPECT_THAT(env_of.dump(), HasSubstr(R"({"name":"API_TOKEN","value":"***"})"));
  EXPECT_THAT(env_of.dump(), HasSubstr(R"({"name":"PLAIN","value":"visible"})"));
  r = crt({"cat-manifest", "--show-env", uuid});
  EXPECT_THAT(r.out, HasSubstr("hunter2"));
  EXPECT_EQ(r.out, read_file(pod_dir(uuid) + "/pod.json"));
  r = crt({"inspect", uuid});
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(r.out, HasSubstr("CapBnd:       00000000a80425fb = cap_chown"));
  EXPECT_THAT(r.out, HasSubstr("seccomp:      filter"));
  // Each variable on a line of its own, whatever its value holds.
  EXPECT_THAT(r.out, HasSubstr("\n    LINES=a\\nb\\c\\x1b[0m\n"));
  if (limits) {
    EXPECT_THAT(r.out, ContainsRegex("\n  memory_max: +99999744\n"));
  }
  EXPECT_THAT(r.out, HasSubstr("\n  cgroupfs:     " + res["cgroup_dirs"][0].get<std::string>() + "\n"));
  // The mounts' columns line up, also past a long target
  // (/proc/sys/kernel/random/boot_id).
  std::set<size_t> type_columns;
  std::istringstream lines(r.out.substr(r.out.find("  mounts:\n")));
  for (std::string line; std::getline(lines, line) && line != "  environment:";)
    if (line.rfind("    /", 0) == 0) type_columns.insert(line.find_first_not_of(' ', line.find(' ', 4)));
  EXPECT_EQ(type_columns.size(), 1U) << r.out;
  EXPECT_THAT(r.out, HasSubstr("    /proc/sys/kernel/random/boot_id "));
  crt({"stop", uuid});
  p.wait();
  r = crt({"inspect", uuid, "--format=json"});
  EXPECT_EQ(crt::json_text::parse(r.out)["apps"][0]["running"], false);
}

// The kernel shows an overlay's paths escaped as crt gave them (':' and ','
// are separators of its options): crt inspect shows the paths.
TEST_F(InspectTest, OverlayPathsAreShownAsPaths) {
  std::string dir = dir_ + "/state:with,separators";
  std::string file = dir_ + "/uuid";
  Process p(
      {crt_bin_, "--dir=" + dir, "run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"},
      {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(run({crt_bin_, "--dir=" + dir, "status", uuid, "--wait-ready=20s"}).status, 0);
  json root;
  for (int i = 0; i < 200 && root.is_null(); ++i) {
    Result r = run({crt_bin_, "--dir=" + dir, "inspect", uuid, "--format=json"});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const auto& m : crt::json_text::parse(r.out)["apps"][0].value("mounts", json::array()))
      if (m["target"] == "/" && m["type"] == "overlay") root = m;
    if (root.is_null()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(root.is_null()) << "the app did not start";
  std::string upper = dir + "/pods/run/" + uuid + "/overlay/apps/busybox/upper";
  EXPECT_EQ(root["upperdir"], upper);
  ASSERT_EQ(root["lowerdirs"].size(), 1u) << root.dump();
  std::string lower = root["lowerdirs"][0];
  EXPECT_EQ(lower.rfind(dir + "/store/trees/", 0), 0u) << lower;
  EXPECT_TRUE(std::filesystem::is_directory(lower)) << lower;
  Result text = run({crt_bin_, "--dir=" + dir, "inspect", uuid});
  EXPECT_THAT(text.out, HasSubstr("\n      lower: " + lower + "\n      upper: " + upper + "\n")) << text.out;
  EXPECT_EQ(run({crt_bin_, "--dir=" + dir, "stop", uuid}).status, 0);
  p.wait();
}

}  // namespace
}  // namespace crt::test
