#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "common/subprocess.hpp"
#include "pod/manifest.hpp"
#include "store/progress.hpp"

namespace crt::runtime {

/// Tells the service manager that started crt ($NOTIFY_SOCKET: a
/// Type=notify unit such as crt@.service) how a pull or an import goes:
/// STATUS= for `systemctl status`, and EXTEND_TIMEOUT_USEC= while work goes
/// on, so that pulling a large image at boot does not run out of the unit's
/// TimeoutStartSec= (a pull that stalls for longer than the extension still
/// does). Only new bytes count as going on: a download that starts again
/// from its beginning (a server that ignores ranges) gains no time until it
/// passes what came before. Every event also goes on to `inner`.
class ServiceProgress : public store::Progress {
 public:
  using Clock = std::chrono::steady_clock;
  /// Sends one notification ("STATUS=…\nEXTEND_TIMEOUT_USEC=…").
  using Notify = std::function<void(const std::string&)>;

  /// How long each notification asks systemd to wait for the next.
  static constexpr std::chrono::seconds kExtension{60};
  /// Updates of the same task closer than this are not sent.
  static constexpr std::chrono::seconds kInterval{1};

  /// `notify` empty: events only go on to `inner`.
  ServiceProgress(store::Progress& inner, Notify notify, std::function<Clock::time_point()> now = Clock::now);

  void start(const std::string& id, const std::string& action, int64_t total) override;
  void update(const std::string& id, uint64_t done) override;
  void finish(const std::string& id, const std::string& result) override;

 private:
  struct Task {
    std::string action;
    int64_t total = -1;
    uint64_t most = 0;  ///< the most done said so far
  };
  void send(const std::string& status);

  store::Progress& inner_;
  Notify notify_;
  std::function<Clock::time_point()> now_;
  std::map<std::string, Task> active_;
  Clock::time_point last_sent_{};
};

/// sd_notify(3) where crt runs under a service manager ($NOTIFY_SOCKET
/// set), else empty.
ServiceProgress::Notify service_notifier();

/// What crt does of its cleanup after a teardown program has ended, at
/// most: its cleanup (pod::kStopCleanup) is one program's time limit and
/// kill (net::kPluginTimeLimit, kTimeLimitOverrun) and this.
inline constexpr std::chrono::milliseconds kCleanupAfterProgram{9000};

/// What a network's teardown calls before each of its programs
/// (net::NetworkContext::teardown_program_starts), told how long the
/// program may take at most: asks the service manager, through `notify`,
/// to wait for crt that long and kCleanupAfterProgram more
/// (EXTEND_TIMEOUT_USEC=; systemd only ever extends a wait with it). Each
/// program so has its full time whatever those before it took: two hung
/// plugins would otherwise outlast the cleanup's time, and crt be killed
/// with the network half torn down. Empty when `notify` is.
std::function<void(std::chrono::milliseconds)> cleanup_renewal(ServiceProgress::Notify notify);

/// How long a unit waits for crt's cleanup after its pod (pod::kStopCleanup,
/// which fits a teardown program of the default time limit), for a crt run
/// whose teardown programs may each take `plugin_limit` (--plugin-time-limit;
/// 0: no limit): one of them, its kill and kCleanupAfterProgram, where that
/// is longer.
std::chrono::milliseconds cleanup_time(std::chrono::milliseconds plugin_limit);

}  // namespace crt::runtime
