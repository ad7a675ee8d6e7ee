#include "common/clock.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>

namespace crt {

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

}  // namespace crt
