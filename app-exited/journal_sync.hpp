#pragma once

namespace crt::app_exited {

/// Asks the pod's journald to process everything it has been sent and write
/// it out (io.systemd.Journal.Synchronize over varlink), so that an app's
/// last lines are in the journal before the pod ends. Best effort: returns
/// false if journald is not there or does not answer in time.
bool sync_journal(int timeout_ms);

}  // namespace crt::app_exited
