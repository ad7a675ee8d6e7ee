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
  // Far beyond any wait, and a deadline that far off still fits a clock's
  // nanoseconds.
  constexpr int64_t kMaxMs = int64_t{36525} * 24 * 3600 * 1000;
  auto too_long = [&] { return Error("duration " + quote(s) + " is out of range (at most 100 years)"); };
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) throw bad();
    int64_t n = 0;
    for (size_t d = start; d < i; ++d)
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, s[d] - '0', &n)) throw too_long();
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
    int64_t ms = 0;
    if (__builtin_mul_overflow(n, mult, &ms) || __builtin_add_overflow(total_ms, ms, &total_ms) || total_ms > kMaxMs)
      throw too_long();
  }
  return std::chrono::milliseconds(total_ms);
}

std::string seconds_text(std::chrono::milliseconds d) {
  std::string s = std::to_string(d.count() / 1000);
  if (int64_t ms = d.count() % 1000; ms != 0) {
    std::string fraction = std::to_string(1000 + ms).substr(1);  // "500"
    s += "." + fraction.erase(fraction.find_last_not_of('0') + 1);
  }
  return s + " s";
}

std::string killed_after_text(std::chrono::milliseconds d) {
  return "did not end within " + seconds_text(d) + ": it was killed";
}

}  // namespace crt
