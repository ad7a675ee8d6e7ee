#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crt {

/// CLOCK_BOOTTIME in nanoseconds: the same in a pod as on the host, and it
/// counts a suspend; it orders the apps' exit records (pod::AppExit::seq).
uint64_t boottime_ns();

/// The current time in RFC 3339, UTC: "2026-11-29T23:50:18Z", or with
/// milliseconds "2026-11-29T23:50:18.123Z".
std::string now_rfc3339(bool milliseconds = false);

/// A file's modification time in the same format (with milliseconds); empty
/// if it does not exist.
std::string mtime_rfc3339(const std::string& path);

/// A time in seconds since the epoch in the same format, without a
/// fraction: "2023-11-14T22:13:20Z" for 1700000000.
std::string rfc3339_from_seconds(int64_t seconds);

/// A time in microseconds since the epoch (as the journal keeps them) in
/// the same format, with milliseconds.
std::string rfc3339_from_usec(uint64_t usec);

/// Parses an RFC 3339 time in UTC, "2026-11-29T23:50:18Z", with or without
/// a fraction of a second ("…18.123456Z"), into microseconds since the
/// epoch; nullopt if it is not one.
std::optional<uint64_t> usec_from_rfc3339(std::string_view s);

}  // namespace crt
