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

/// Throws crt::Error unless `name` is a unit name by systemd's rules
/// (unit_name_is_valid()): at most 255 of [A-Za-z0-9:_.\\@-], a name
/// before a known type suffix (".service", ".target" …), and a name before
/// any '@' (a template "a@.service", or an instance "a@b.service").
void validate_unit_name(std::string_view name);

/// systemd-escape(1) of a string for use in a unit name.
std::string escape_unit_name(std::string_view s);

/// systemd-escape --path(1).
std::string escape_unit_path(std::string_view path);

}  // namespace crt::unit
