#pragma once

#include <functional>
#include <string_view>

namespace crt {

/// Where library code sends what the user should read besides an error: a
/// warning ("warning: " and what was ignored) or why a command ends as it
/// does. Library code never prints; each main() says where this goes (crt:
/// "crt: MESSAGE" on stderr).
using MessageSink = std::function<void(std::string_view)>;

/// Sends `message` to `sink`, if there is one.
inline void tell(const MessageSink& sink, std::string_view message) {
  if (sink) sink(message);
}

}  // namespace crt
