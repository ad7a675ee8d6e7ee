#include "pod/resources.hpp"

#include <cctype>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "common/error.hpp"

namespace crt::pod {

namespace {

/// Parses "<digits>[.<digits>]" into an integer scaled by 10^decimals.
bool parse_decimal(std::string_view s, unsigned decimals, uint64_t& out) {
  if (s.empty()) return false;
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return false;
  if (dot != std::string_view::npos && frac.empty()) return false;
  if (frac.size() > decimals) return false;
  uint64_t v = 0;
  for (char c : std::string(whole) + std::string(frac)) {
    if (c < '0' || c > '9') return false;
    if (v > (std::numeric_limits<uint64_t>::max() - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  for (size_t i = frac.size(); i < decimals; ++i) {
    if (v > std::numeric_limits<uint64_t>::max() / 10) return false;
    v *= 10;
  }
  out = v;
  return true;
}

}  // namespace

uint64_t parse_memory(std::string_view s) {
  static const std::pair<std::string_view, uint64_t> kSuffixes[] = {
      {"Ki", 1ULL << 10}, {"Mi", 1ULL << 20}, {"Gi", 1ULL << 30}, {"Ti", 1ULL << 40},
      {"k", 1000ULL},     {"K", 1000ULL},     {"M", 1000000ULL},  {"G", 1000000000ULL},
      {"T", 1000000000000ULL}};
  auto bad = [&] {
    std::string hint;
    // Docker's 512m, 1g: a milli-suffix would mean nothing here (nor
    // would 1ki, 1gi).
    const size_t at = s.size() >= 2 && s.back() == 'i' ? s.size() - 2 : s.size() - 1;  // the suffix's letter
    const bool binary = at + 1 < s.size();
    if (!s.empty() && std::string_view(binary ? "kmgt" : "mgt").find(s[at]) != std::string_view::npos)
      hint = " (the suffixes are upper-case: " + std::string(s.substr(0, at)) +
             static_cast<char>(std::toupper(static_cast<unsigned char>(s[at]))) + std::string(s.substr(at + 1)) + ")";
    return Error("invalid memory size " + quote(s) + ": expected bytes or a number with K, M, G, T, Ki, Mi, Gi or Ti" +
                 hint);
  };
  std::string_view num = s;
  uint64_t mult = 1;
  for (const auto& [suffix, m] : kSuffixes) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      num = s.substr(0, s.size() - suffix.size());
      mult = m;
      break;
    }
  }
  // A fraction (1.5G, .5Gi) where it comes to whole bytes; Kubernetes
  // would round one that does not up, crt refuses it.
  const size_t dot = num.find('.');
  const std::string_view whole = num.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : num.substr(dot + 1);
  const auto digits = [](std::string_view d) { return d.find_first_not_of("0123456789") == std::string_view::npos; };
  if ((whole.empty() && frac.empty()) || !digits(whole) || !digits(frac) ||
      (dot != std::string_view::npos && frac.empty()))
    throw bad();
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  // Below 10^-18 of a unit: below a byte of any.
  if (frac.size() > 18) throw Error("memory size " + quote(s) + " is not a whole number of bytes");
  const auto too_large = [&] { return Error("memory size " + quote(s) + " is too large"); };
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t bytes = 0;
  for (char c : whole) {
    const auto d = static_cast<uint64_t>(c - '0');
    if (bytes > kMax / 10 || bytes * 10 > kMax - d) throw too_large();
    bytes = bytes * 10 + d;
  }
  if (bytes > kMax / mult) throw too_large();
  bytes *= mult;
  // The fraction f/10^n of mult bytes is whole when f is a multiple of
  // 10^n/g, g = gcd(mult, 10^n); it is then (f/(10^n/g)) * (mult/g).
  uint64_t f = 0;
  uint64_t unit = 1;
  for (char c : frac) {  // at most 18 digits: no overflow
    f = f * 10 + static_cast<uint64_t>(c - '0');
    unit *= 10;
  }
  const uint64_t g = std::gcd(mult, unit);
  if (f % (unit / g) != 0) throw Error("memory size " + quote(s) + " is not a whole number of bytes");
  const uint64_t part = f / (unit / g);
  if (part != 0 && mult / g > kMax / part) throw too_large();
  if (bytes > kMax - part * (mult / g)) throw too_large();
  bytes += part * (mult / g);
  if (bytes < 4096) throw Error("memory size " + quote(s) + " is too small (at least 4096 bytes)");
  return bytes;
}

uint64_t parse_cpu_millis(std::string_view s) {
  uint64_t v = 0;
  bool ok = false;
  if (!s.empty() && s.back() == 'm')
    ok = parse_decimal(s.substr(0, s.size() - 1), 0, v);
  else
    ok = parse_decimal(s, 3, v);
  if (uint64_t finer = 0; !ok && !s.empty() && s.back() != 'm' && parse_decimal(s, 18, finer))
    throw Error("CPU amount " + quote(s) + " is finer than crt's unit, the millicore (1m = 0.001)");
  if (!ok) throw Error("invalid CPU amount " + quote(s) + ": expected millicores like 200m, or cores like 0.5");
  if (v == 0) throw Error("CPU amount " + quote(s) + " must be more than zero");
  // CPUQuota= is at most 21474836.4% (INT_MAX in 1/10000): systemd ignores
  // more, and the app would run without a limit.
  constexpr uint64_t kMaxMillis = 214748364;
  if (v > kMaxMillis)
    throw Error("CPU amount " + quote(s) + " is more than a quota systemd sets (at most 214748.364 cores)");
  return v;
}

}  // namespace crt::pod
