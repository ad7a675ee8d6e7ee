#pragma once

#include <chrono>
#include <functional>
#include <string>

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

/// crt's socket for output flush requests (mount::kPodOutputFlushSocket).
inline constexpr const char* kOutputFlushSocket = "/crt/etc/output-flush";

/// Asks crt to have all that `app` wrote in the pod's journal (where crt
/// copies the apps' output to), from a process of the app's unit once the
/// app has ended; `mark` is the token of the mark written to the app's
/// terminal (pod::terminal_mark()), or empty. Waits as sync_journal()
/// does. Returns false if crt does not listen on `socket` or does not
/// answer in time.
bool flush_output(const std::string& app, const std::string& mark, std::chrono::milliseconds timeout,
                  const std::function<bool()>& keep_waiting, const char* socket = kOutputFlushSocket);

}  // namespace crt::app_exited
