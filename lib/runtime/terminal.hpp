#pragma once

#include <sys/types.h>
#include <termios.h>

#include <optional>

#include "common/fd.hpp"

namespace crt::runtime {

/// A pseudo-terminal of crt's between the user's terminal and the pod's
/// console (an interactive pod on a terminal): nspawn gets its slave as
/// stdin and stdout, and crt relays between its master and the user's
/// terminal, so that what the app writes reaches the pod's journal too.
class PodTerminal {
 public:
  /// A pty with the settings and size of the user's terminal (`user_in`,
  /// `user_out`). The master is non-blocking.
  PodTerminal(int user_in, int user_out);
  /// Restores the user's terminal, if raw() changed it.
  ~PodTerminal();
  PodTerminal(const PodTerminal&) = delete;
  PodTerminal& operator=(const PodTerminal&) = delete;

  [[nodiscard]] int master() const { return master_.get(); }
  /// The slave, for nspawn's stdin and stdout; crt's copy is to be closed
  /// once nspawn has it (the master then reads EOF when nspawn is gone).
  UniqueFd take_slave() { return std::move(slave_); }

  /// Puts the user's terminal in raw mode, as nspawn would: every key goes
  /// to the app (^C included), and the app's terminal does the echoing.
  /// A child of crt's puts it back should crt die without doing so (kill
  /// -9): it waits for the end of a pipe only crt holds.
  void raw();
  /// Gives the pty the user's terminal's size again (after SIGWINCH).
  void copy_size() const;

 private:
  int user_in_, user_out_;
  UniqueFd master_, slave_;
  std::optional<termios> saved_;  ///< the user's settings, while raw
  UniqueFd guard_;                ///< the guardian's pipe: closed, it restores and ends
  pid_t guardian_ = -1;
};

}  // namespace crt::runtime
