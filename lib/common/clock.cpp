#include "common/clock.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace crt {

uint64_t boottime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

std::string format(const timespec& ts, bool milliseconds) {
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (milliseconds) std::snprintf(buf + n, sizeof buf - n, ".%03ld", ts.tv_nsec / 1000000);
  return std::string(buf) + "Z";
}

}  // namespace

std::string now_rfc3339(bool milliseconds) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return format(ts, milliseconds);
}

std::string mtime_rfc3339(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return {};
  return format(st.st_mtim, true);
}

std::string rfc3339_from_seconds(int64_t seconds) { return format(timespec{static_cast<time_t>(seconds), 0}, false); }

std::string rfc3339_from_usec(uint64_t usec) {
  timespec ts{static_cast<time_t>(usec / 1000000), static_cast<long>(usec % 1000000 * 1000)};
  return format(ts, true);
}

std::optional<uint64_t> usec_from_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z.
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < kShape.size() + 1 || s.back() != 'Z') return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i)
    if (kShape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != kShape[i]) return std::nullopt;
  auto num = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  uint64_t frac = 0;
  std::string_view rest = s.substr(kShape.size(), s.size() - kShape.size() - 1);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    std::string digits(rest.substr(1));
    for (char c : digits)
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    digits.resize(6, '0');  // to microseconds (nanoseconds are cut)
    frac = std::stoull(digits.substr(0, 6));
  }
  std::tm wanted = tm;
  time_t t = timegm(&tm);
  // timegm() moves February 31st on to March: no such day.
  if (t < 0 || tm.tm_mday != wanted.tm_mday || tm.tm_mon != wanted.tm_mon || tm.tm_sec != wanted.tm_sec)
    return std::nullopt;
  return static_cast<uint64_t>(t) * 1000000 + frac;
}

}  // namespace crt
