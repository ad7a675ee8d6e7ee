#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace crt {

/// crt's documented exit code for its own failures (as opposed to an app's
/// exit status, which `crt run` passes through).
inline constexpr int kErrorExitCode = 254;

/// The one exception family of crt. The message is a chain of context,
/// outermost first: "starting pod 'web': mounting '/x': Permission denied".
class Error : public std::runtime_error {
 public:
  explicit Error(std::string message) : std::runtime_error(std::move(message)) {}

  /// Returns a copy of this error with `context` prepended.
  [[nodiscard]] Error with_context(std::string_view context) const;
};

/// An Error caused by a failed system call; carries errno.
class SystemError : public Error {
 public:
  SystemError(int err, std::string_view what);
  [[nodiscard]] int code() const { return errno_; }

 private:
  int errno_;
};

/// Throws SystemError from the current errno.
[[noreturn]] void throw_errno(std::string_view what);
[[noreturn]] void throw_errno(int err, std::string_view what);

/// Runs `body`; any crt::Error escaping it gets `context` prepended.
template <typename F>
decltype(auto) with_context(std::string_view context, F&& body) {
  try {
    return std::forward<F>(body)();
  } catch (const SystemError& e) {
    throw Error(std::string(context) + ": " + e.what());
  } catch (const Error& e) {
    throw e.with_context(context);
  }
}

/// A value on one line: control characters C-escaped (a newline as \n, an
/// escape as \x1b); UTF-8 and backslashes as they are.
std::string escape_controls(std::string_view s);

/// Quotes a path or value for messages, on one line: 'x' (escape_controls).
std::string quote(std::string_view s);

}  // namespace crt
