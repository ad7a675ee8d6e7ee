#pragma once

#include <memory>
#include <string>

#include "pod_fixture.hpp"

namespace crt::test {

/// The day-two commands' tests (pod_commands_test, pod_stop_test,
/// pod_removal_test): pods of apps that stop in known ways, and what a user
/// looks at while they run.
class PodCommandsTest : public PodTest {
 protected:
  static RunOptions detached();
  /// Starts `crt run` of an app that ignores SIGTERM; its pod's UUID, once
  /// the app's trap is set.
  std::string run_app_ignoring_sigterm(std::unique_ptr<Process>& p);
  /// Starts `crt run` (`uuid_file` saved) of an app that takes 2 s to end
  /// on SIGTERM, then prints "graceful"; its pod's UUID, once the app's
  /// trap is set ("" if not). The 2 s are short sleeps: the stop of the
  /// app's unit sends SIGTERM to what its cgroup holds until it finds
  /// nothing new there, which can take the trap's first child too.
  std::string run_graceful_app(std::unique_ptr<Process>& p, const std::string& uuid_file);
  /// Starts `crt run --rm` of an app that sleeps; its pod's UUID, once the
  /// pod is ready ("" if it is not).
  std::string run_rm_pod(std::unique_ptr<Process>& p);
  /// Waits until a stop of pod `uuid` has sent nspawn its SIGTERM (and
  /// noted so in its stop-requested file).
  bool wait_stop_sent(const std::string& uuid);
  /// Waits until a stop of run_graceful_app()'s pod `uuid` has reached its
  /// app (its trap runs): as the app sees it, be it nspawn's SIGTERM or,
  /// where crt stop has the host's systemd-machined power the pod off, the
  /// pod's own shutdown.
  bool wait_stop_reached_app(const std::string& uuid);
  /// Waits until the pod's apps have printed `text`.
  void wait_for_output(const std::string& pod, const std::string& text);
  /// The value of `key` in `crt status` of `pod`, or "<none>".
  std::string status_field(const std::string& pod, const std::string& key);
};

}  // namespace crt::test
