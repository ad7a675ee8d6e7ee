#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "common/error.hpp"
#include "pod/run_args.hpp"

namespace crt::runtime {

/// Where crt keeps its state and finds its data.
struct RunContext {
  std::filesystem::path state_dir;  ///< --dir
  std::filesystem::path data_dir;   ///< stage1 and built-in images
  /// Called with a line at each step of starting and ending a pod (--debug).
  std::function<void(std::string_view)> trace;
};

/// A signal stopped crt before the pod started; nothing was left behind.
class Interrupted : public Error {
 public:
  explicit Interrupted(int sig);
  [[nodiscard]] int signal() const { return sig_; }

 private:
  int sig_;
};

/// Runs a pod to its end (crt run) and returns crt run's exit status: the
/// app's, or the first failed app's in a multi-app pod.
int run_pod(const pod::RunRequest& req, const RunContext& ctx);

}  // namespace crt::runtime
