#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crt {

/// What the C locale's isspace() takes for white space, and so what a
/// stream's `>>` skips: space, \t, \n, \v, \f and \r.
inline constexpr std::string_view kWhitespace = " \t\n\v\f\r";

/// `s` without the characters of `chars` at its start and at its end.
std::string trim(std::string_view s, std::string_view chars);

/// `s` without the characters of `chars` at its start.
std::string trim_start(std::string_view s, std::string_view chars);

/// `s` without the characters of `chars` at its end.
std::string trim_end(std::string_view s, std::string_view chars);

/// The fields of `s` between its `sep`s, empty ones kept: "a,,b" is three
/// fields, "a," two and "" one.
std::vector<std::string> split(std::string_view s, char sep);

/// The runs of `s` between characters of `separators`, empty ones
/// dropped: a text of separators alone has no words.
std::vector<std::string> words(std::string_view s, std::string_view separators = kWhitespace);

/// `items` with `sep` between each and the text before it: an empty item
/// at the start adds no separator.
std::string join(const std::vector<std::string>& items, std::string_view sep);

/// The length of the valid UTF-8 sequence of 2 to 4 bytes that starts at
/// s[i]; 0 for an ASCII byte, and for one that starts no valid sequence
/// (overlong, a surrogate, past U+10FFFF, cut short).
size_t utf8_sequence_length(std::string_view s, size_t i);

/// escape_controls() of `s`, with every byte that is part of no valid
/// UTF-8 character C-escaped too (\xff): a text any reader of UTF-8 shows
/// as text (journald keeps a message that is not UTF-8 as a blob).
std::string escape_controls_utf8(std::string_view s);

/// `rows` as a table of columns as wide as their widest cell (in UTF-8
/// code points: wide and combining characters are not told apart), two
/// spaces apart, each row a line, control characters escaped
/// (escape_controls); a column whose entry of
/// `right` is true is aligned right. Lines end in no spaces.
std::string format_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right = {});

}  // namespace crt
