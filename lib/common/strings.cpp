#include "common/strings.hpp"

#include <algorithm>
#include <cstdint>

#include "common/error.hpp"

namespace crt {

std::string trim(std::string_view s, std::string_view chars) {
  size_t start = s.find_first_not_of(chars);
  if (start == std::string_view::npos) return {};
  return std::string(s.substr(start, s.find_last_not_of(chars) - start + 1));
}

std::string trim_start(std::string_view s, std::string_view chars) {
  size_t start = s.find_first_not_of(chars);
  return std::string(start == std::string_view::npos ? std::string_view() : s.substr(start));
}

std::string trim_end(std::string_view s, std::string_view chars) {
  size_t last = s.find_last_not_of(chars);
  return std::string(last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    size_t end = s.find(sep, start);
    out.emplace_back(s.substr(start, end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::vector<std::string> words(std::string_view s, std::string_view separators) {
  std::vector<std::string> out;
  for (size_t start = s.find_first_not_of(separators); start != std::string_view::npos;) {
    size_t end = s.find_first_of(separators, start);
    out.emplace_back(s.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = s.find_first_not_of(separators, end);
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

namespace {

/// Characters of UTF-8 text: its bytes but continuation bytes.
size_t characters(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

std::string escape_controls_utf8(std::string_view s) {
  std::string out;
  size_t valid = 0;  // where the text not yet escaped starts
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) continue;
    if (size_t n = utf8_sequence_length(s, i); n > 0) {
      i += n - 1;
      continue;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out += escape_controls(s.substr(valid, i - valid));
    out += {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
    valid = i + 1;
  }
  return out + escape_controls(s.substr(valid));
}

std::string format_table(const std::vector<std::vector<std::string>>& rows_in, const std::vector<bool>& right) {
  // A value from an image or a pod (an image's "created", an app's name)
  // neither starts a row of its own nor sends a terminal escapes.
  std::vector<std::vector<std::string>> rows = rows_in;
  for (auto& row : rows)
    for (auto& cell : row) cell = escape_controls(cell);
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.resize(i + 1, 0);
      width[i] = std::max(width[i], characters(row[i]));
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      bool last = i + 1 == row.size();
      std::string pad(width[i] - characters(row[i]), ' ');
      if (i > 0) line += "  ";
      if (i < right.size() && right[i])
        line += pad + row[i];
      else
        line += last ? row[i] : row[i] + pad;
    }
    out += trim_end(line, " ") + "\n";
  }
  return out;
}

}  // namespace crt
