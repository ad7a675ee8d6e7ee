#include "common/duration.hpp"

#include <cctype>
#include <cstdint>
#include <string>

#include "common/error.hpp"

namespace crt {

std::chrono::milliseconds parse_duration(std::string_view s) {
  auto bad = [&] {
    return Error("invalid duration " + quote(s) + ": expected e.g. 30s, 5m, 2h, 1h30m or seconds");
  };
  if (s.empty()) throw bad();
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) throw bad();
    int64_t n = std::stoll(std::string(s.substr(start, i - start)));
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    int64_t mult = 0;
    if (unit.empty() || unit == "s" || unit == "sec") mult = 1000;
    else if (unit == "ms") mult = 1;
    else if (unit == "m" || unit == "min") mult = 60 * 1000;
    else if (unit == "h") mult = 3600 * 1000;
    else if (unit == "d") mult = 24 * 3600 * 1000;
    else throw bad();
    if (unit.empty() && i != s.size()) throw bad();
    total_ms += n * mult;
  }
  return std::chrono::milliseconds(total_ms);
}

}  // namespace crt
