#pragma once

#include <string>

namespace crt {

/// The current time in RFC 3339, UTC: "2026-11-29T23:50:18Z", or with
/// milliseconds "2026-11-29T23:50:18.123Z".
std::string now_rfc3339(bool milliseconds = false);

/// A file's modification time in the same format (with milliseconds); empty
/// if it does not exist.
std::string mtime_rfc3339(const std::string& path);

}  // namespace crt
