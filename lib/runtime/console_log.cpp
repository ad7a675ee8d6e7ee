#include "runtime/console_log.hpp"

#include <algorithm>

namespace crt::runtime {

namespace {

constexpr char kEsc = '\x1b';
constexpr char kBel = '\a';

/// Skips the escape sequence at `s[i]` (an ESC): CSI ("ESC [ … final"),
/// OSC and the like ("ESC ] … BEL" or "… ESC \"), or ESC and one byte.
size_t skip_escape(std::string_view s, size_t i) {
  if (i + 1 >= s.size()) return s.size();
  char kind = s[i + 1];
  if (kind == '[') {
    size_t j = i + 2;
    while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7e)) ++j;
    return j < s.size() ? j + 1 : s.size();
  }
  if (kind == ']' || kind == 'P' || kind == '_' || kind == '^' || kind == 'X') {
    for (size_t j = i + 2; j < s.size(); ++j) {
      if (s[j] == kBel) return j + 1;
      if (s[j] == kEsc && j + 1 < s.size() && s[j + 1] == '\\') return j + 2;
    }
    return s.size();
  }
  return i + 2;
}

}  // namespace

std::vector<std::string> console_lines(std::string_view console) {
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < console.size();) {
    char c = console[i];
    if (c == kEsc) {
      i = skip_escape(console, i);
      continue;
    }
    ++i;
    if (c == '\r') continue;
    if (c == '\n') {
      lines.push_back(std::move(line));
      line.clear();
      continue;
    }
    line += c;
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

std::vector<std::string> console_lines_about(std::string_view console, std::string_view unit) {
  std::string prefix = std::string(unit) + ": ";
  std::vector<std::string> about;
  for (auto& l : console_lines(console))
    if (l.size() > prefix.size() && l.compare(0, prefix.size(), prefix) == 0) about.push_back(std::move(l));
  return about;
}

bool repeats_exec_failure(std::string_view line, const std::vector<std::string>& earlier) {
  constexpr std::string_view kStep = "Failed at step EXEC spawning ";
  size_t at = line.find(kStep);
  if (at == std::string_view::npos) return false;
  // "UNIT: Failed at step EXEC spawning X: E" repeats "UNIT: Failed to execute X: E".
  std::string said =
      std::string(line.substr(0, at)) + "Failed to execute " + std::string(line.substr(at + kStep.size()));
  return std::find(earlier.begin(), earlier.end(), said) != earlier.end();
}

std::string console_tail(std::string_view console, size_t max_bytes) {
  std::vector<std::string> lines;
  for (auto& l : console_lines(console))
    if (!l.empty()) lines.push_back(std::move(l));
  size_t first = lines.size(), size = 0;
  while (first > 0 && (size == 0 || size + lines[first - 1].size() + 1 <= max_bytes)) {
    --first;
    size += lines[first].size() + 1;
  }
  std::string tail;
  for (size_t i = first; i < lines.size(); ++i) {
    if (!tail.empty()) tail += '\n';
    tail += lines[i];
  }
  return tail;
}

}  // namespace crt::runtime
