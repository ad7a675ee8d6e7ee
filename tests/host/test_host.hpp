#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "../support/process.hpp"
#include "cgroup/cgroup.hpp"

namespace crt::test {

/// A throwaway systemd test host: an overlay of this machine's "/" booted
/// with systemd as PID 1 by systemd-nspawn, crt installed into it with
/// `cmake --install`, /var/lib/crt a real directory from outside (overlayfs
/// cannot stack on an overlay). Everything it mounts lives in the private
/// mount namespace of the test process; stop() (also run by the destructor)
/// powers it off, kills what is left and removes its directory and cgroup.
class TestHost {
 public:
  struct Options {
    std::string build_dir;
    /// Files to place in the host before it boots (path inside -> content),
    /// e.g. pod files for crt-generator.
    std::vector<std::pair<std::string, std::string>> files;
    /// The host boots with the unified cgroup hierarchy alone (cgroup v2,
    /// as Debian 12 boots), whatever this machine's layout: on a hybrid
    /// machine, one without controllers.
    bool unified = false;
    /// false: no systemd, a machine such as these build machines (the
    /// container runs `sleep infinity`, under nspawn's stub init).
    bool boot = true;
  };

  explicit TestHost(const Options& opts);
  ~TestHost();
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  /// Runs `sh -c SCRIPT` inside the host (all its namespaces).
  Result sh(const std::string& script, std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

  /// The host path of a path inside the test host.
  [[nodiscard]] std::filesystem::path path(const std::string& inside) const;

  void stop();

  /// Enables v2 controller `c` from this machine's root cgroup down to the
  /// cgroup below the test host's root (system.slice), if this machine's
  /// v2 hierarchy has it: on a hybrid machine only a controller no v1
  /// hierarchy took (hugetlb) can be. False if it has not. stop() disables
  /// it again where it enabled it.
  bool pass_v2_controller(const std::string& c);

  /// What the test host wrote to its console (nspawn's output).
  [[nodiscard]] std::string console_log() const;

  [[nodiscard]] double boot_seconds() const { return boot_seconds_; }

 private:
  void prepare_root(const Options& opts);
  void boot();
  pid_t leader() const;

  std::filesystem::path dir_;
  std::string name_;
  pid_t nspawn_ = -1;
  pid_t leader_ = -1;
  bool mounted_ = false;
  std::unique_ptr<cgroup::PodCgroup> cgroup_;
  double boot_seconds_ = 0;
  bool unified_ = false;
  bool boot_ = true;
  /// Cgroups of this machine's, and the controller pass_v2_controller()
  /// enabled in them.
  std::vector<std::pair<std::filesystem::path, std::string>> passed_;
};

}  // namespace crt::test
