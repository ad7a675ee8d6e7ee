#pragma once

namespace crt {

/// The SIGINT, SIGTERM or SIGHUP pending for crt (blocked until what it does
/// now is done: a ^C, a stop by systemd); 0 when none. The one place crt
/// asks whether it was told to stop.
int pending_stop_signal();

}  // namespace crt
