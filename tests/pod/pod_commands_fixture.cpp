#include "pod_commands_fixture.hpp"

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

namespace crt::test {

using std::chrono::milliseconds;
using std::chrono::seconds;

RunOptions PodCommandsTest::detached() {
  return {.env = {}, .timeout = seconds(120), .input = {}, .new_session = true};
}

std::string PodCommandsTest::run_app_ignoring_sigterm(std::unique_ptr<Process>& p) {
  std::string file = dir_ + "/uuid";
  std::filesystem::remove(file);
  p = std::make_unique<Process>(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sh",
                                          "-c", "trap '' TERM; echo trapped; while :; do sleep 0.1; done"}),
                                detached());
  std::string uuid = wait_uuid(file);
  EXPECT_EQ(crt({"status", uuid, "--wait-ready=20s"}).status, 0);
  wait_for_output(uuid, "trapped");
  return uuid;
}

std::string PodCommandsTest::run_graceful_app(std::unique_ptr<Process>& p, const std::string& uuid_file) {
  p = std::make_unique<Process>(
      crt_argv({"run", "--net=none", "--uuid-file-save=" + uuid_file, "busybox", "--", "/bin/sh", "-c",
                "trap 'touch /stopping; i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; "
                "echo graceful; exit 0' TERM; touch /trapped; "
                "while :; do sleep 0.1; done"}),
      detached());
  std::string uuid = wait_uuid(uuid_file);
  if (crt({"status", uuid, "--wait-ready=20s"}).status != 0) return "";
  std::string trapped = pod_dir(uuid) + "/overlay/apps/busybox/upper/trapped";
  for (int i = 0; i < 500 && !std::filesystem::exists(trapped); ++i) std::this_thread::sleep_for(milliseconds(10));
  return std::filesystem::exists(trapped) ? uuid : "";
}

std::string PodCommandsTest::run_rm_pod(std::unique_ptr<Process>& p) {
  std::string file = dir_ + "/uuid";
  p = std::make_unique<Process>(
      crt_argv({"run", "--rm", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}),
      detached());
  std::string uuid = wait_uuid(file);
  return crt({"status", uuid, "--wait-ready=20s"}).status == 0 ? uuid : "";
}

bool PodCommandsTest::wait_stop_sent(const std::string& uuid) {
  std::string requested = pod_dir(uuid) + "/stop-requested";
  for (int i = 0; i < 500; ++i) {
    if (std::filesystem::exists(requested) && read_file(requested).rfind('s', 0) == 0) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

bool PodCommandsTest::wait_stop_reached_app(const std::string& uuid) {
  std::string stopping = app_upper(uuid, "busybox") + "/stopping";
  for (int i = 0; i < 1000; ++i) {
    if (std::filesystem::exists(stopping)) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

void PodCommandsTest::wait_for_output(const std::string& pod, const std::string& text) {
  for (int i = 0; i < 500; ++i) {
    if (crt({"logs", pod}).out.find(text) != std::string::npos) return;
    std::this_thread::sleep_for(milliseconds(20));
  }
  FAIL() << "no " << text << " from pod " << pod;
}

std::string PodCommandsTest::status_field(const std::string& pod, const std::string& key) {
  Result r = crt({"status", pod});
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return "<none>";
}

}  // namespace crt::test
