#include "common/strings.hpp"

#include <algorithm>

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
