#pragma once

#include <functional>

namespace crt::app_exited {

/// Asks the pod's journald to process everything it has been sent and write
/// it out (io.systemd.Journal.Synchronize over varlink), so that an app's
/// last lines are in the journal before the pod ends. Waits `timeout_ms`
/// for the answer; then, if `wait_longer` says so, up to `longer_ms` more.
/// Best effort: returns false if journald is not there or does not answer
/// in time.
bool sync_journal(int timeout_ms, int longer_ms, const std::function<bool()>& wait_longer);

}  // namespace crt::app_exited
