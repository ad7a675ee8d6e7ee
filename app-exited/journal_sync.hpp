#pragma once

#include <chrono>
#include <functional>

namespace crt::app_exited {

inline constexpr const char* kJournalVarlinkSocket = "/run/systemd/journal/io.systemd.journal";

/// Asks the pod's journald to process everything it has been sent and write
/// it out (io.systemd.Journal.Synchronize over varlink), so that an app's
/// last lines are in the journal before the pod ends. Waits up to `timeout`
/// for the answer, asking `keep_waiting` (if given) every 500 ms whether to
/// wait on. Best effort: returns false if journald (listening on `socket`)
/// is not there or does not answer in time.
bool sync_journal(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
                  const char* socket = kJournalVarlinkSocket);

}  // namespace crt::app_exited
