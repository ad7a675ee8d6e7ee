#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace crt {

/// Parses a duration: a number of seconds, or with a unit: "500ms", "30s",
/// "5m", "2h", "1d"; combinations like "1h30m". Throws crt::Error.
std::chrono::milliseconds parse_duration(std::string_view s);

/// A duration in seconds, as messages say it: "30 s", "1.5 s".
std::string seconds_text(std::chrono::milliseconds d);

/// What a program stopped at its time limit `d` did: "did not end within
/// 30 s: it was killed".
std::string killed_after_text(std::chrono::milliseconds d);

}  // namespace crt
