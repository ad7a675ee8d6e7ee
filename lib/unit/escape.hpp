#pragma once

#include <string>
#include <string_view>

#include "unit/unit_file.hpp"

namespace crt::unit {

/// Renders a single-line setting value: '%' doubled, explicit specifiers kept.
/// Throws crt::Error for what systemd would read differently: control
/// characters (newlines), leading or trailing whitespace, a trailing backslash.
std::string escape_value(const Value& v);

/// Renders one double-quoted word. kCEscaped: C escapes for '\\', '"' and
/// every control or non-UTF-8 byte; with `exec`, '$' doubled as well.
/// kQuoted: only '\\' and '"' escaped; control characters are an error.
std::string escape_word(const Value& v, WordStyle style, bool exec);

/// systemd-escape(1) of a string for use in a unit name.
std::string escape_unit_name(std::string_view s);

/// systemd-escape --path(1).
std::string escape_unit_path(std::string_view path);

}  // namespace crt::unit
