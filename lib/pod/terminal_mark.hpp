#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace crt::pod {

/// What app-exited writes to an app's terminal once the app has ended, so
/// that crt, which reads the pod's console through nspawn, knows when it
/// has all the app wrote: an OSC sequence no terminal acts on,
/// "ESC ] 7701 ; CRT-END ; TOKEN BEL", with a random TOKEN of up to
/// kTerminalMarkTokenMax upper-case hex digits. The console keeps the order
/// of what was written to it, so the app's output is all before the mark.
/// Its characters pass a terminal's output processing unchanged (no
/// newline, no lower case).
inline constexpr std::string_view kTerminalMarkStart = "\x1b]7701;CRT-END;";
inline constexpr char kTerminalMarkEnd = '\a';
inline constexpr size_t kTerminalMarkTokenMax = 32;

/// The mark for `token`.
std::string terminal_mark(std::string_view token);

/// A random token for terminal_mark().
std::string new_terminal_mark_token();

/// Takes the marks out of what a terminal shows, as it comes in chunks: a
/// chunk may end inside a mark, so what may still be one is held back
/// until the next chunk tells (a terminal shows nothing of it meanwhile:
/// it too waits for the end of an escape sequence).
class TerminalMarks {
 public:
  /// `data` without the marks in it, with what was held back before it.
  std::string take(std::string_view data);
  /// What is held back (the terminal's output has ended).
  std::string release();
  /// Whether a mark with `token` has come; forgets it.
  bool seen(std::string_view token);

 private:
  std::string held_;
  std::deque<std::string> tokens_;  ///< the latest ones, not yet asked for
};

}  // namespace crt::pod
