#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/message.hpp"
#include "net/pod_network.hpp"
#include "pod/run_args.hpp"
#include "runtime/image_pull.hpp"

namespace crt::runtime {

/// Where crt keeps its state and finds its data.
struct RunContext {
  std::filesystem::path state_dir;  ///< --dir
  std::filesystem::path data_dir;   ///< stage1 and built-in images
  /// Called with a line at each step of starting and ending a pod (--debug).
  std::function<void(std::string_view)> trace;
  /// How images are found or pulled (--pull-policy, crt.conf).
  ResolveOptions resolve;
  std::filesystem::path config_dir = "/etc/crt";  ///< --local-config: net.d/
  /// Warnings, and why a pod ended as it did.
  MessageSink messages;
};

/// Options that concern one start of a pod, not the pod itself.
struct LaunchOptions {
  bool interactive = false;  ///< the app gets crt's stdin, stdout and stderr
  bool debug = false;
  /// A pod asked to stop (SIGINT, SIGTERM, SIGHUP, its output's reader
  /// gone) that has not ended after this long is killed.
  std::chrono::milliseconds stop_timeout = pod::kDefaultStopTimeout;
  /// --rm: the pod goes once this start of it has ended, however it ended.
  bool remove = false;
  /// How long each program of the pod's network setup and teardown may take
  /// (a plugin's ADD or DEL, an iptables run; 0: no limit).
  std::chrono::milliseconds plugin_time_limit = net::kPluginTimeLimit;
};

/// What `pod` (crt run's flags) says of starting the pod.
LaunchOptions launch_options(const pod::PodFlags& pod);

/// crt run: prepares a pod and runs it to its end; returns crt run's exit
/// status: the app's, or the first failed app's in a multi-app pod.
int run_pod(const pod::RunRequest& req, const RunContext& ctx);

/// crt prepare: prepares a pod and leaves it in prepared/; returns its UUID.
std::string prepare_only(const pod::RunRequest& req, const RunContext& ctx);

/// crt run-prepared: runs the prepared pod `ref` (UUID, prefix or name).
int run_prepared(const std::string& ref, const LaunchOptions& opts, const RunContext& ctx);

}  // namespace crt::runtime
