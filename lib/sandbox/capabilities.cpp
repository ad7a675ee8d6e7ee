#include "sandbox/capabilities.hpp"

#include <sys/capability.h>

#include <algorithm>
#include <cctype>

#include "common/ascii.hpp"
#include "common/error.hpp"

namespace crt::sandbox {

std::vector<std::string> default_capabilities() {
  return {"CAP_AUDIT_WRITE", "CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FSETID", "CAP_FOWNER",
          "CAP_KILL",        "CAP_MKNOD",  "CAP_NET_RAW",          "CAP_NET_BIND_SERVICE",
          "CAP_SETUID",      "CAP_SETGID", "CAP_SETPCAP",          "CAP_SETFCAP", "CAP_SYS_CHROOT"};
}

std::string normalize_capability(const std::string& name) {
  std::string lower = ascii_lower(name);
  if (lower.rfind("cap_", 0) != 0) lower = "cap_" + lower;
  // cap_from_name() also parses "cap_chown kill" style lists; only one name is wanted here.
  if (lower.size() == 4 || lower.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    throw Error("unknown capability " + quote(name));
  cap_value_t v{};
  if (cap_from_name(lower.c_str(), &v) != 0) throw Error("unknown capability " + quote(name));
  std::string upper;
  for (char c : lower) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

uint64_t capability_mask(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const auto& name : names) {
    std::string lower = ascii_lower(normalize_capability(name));
    cap_value_t v{};
    if (cap_from_name(lower.c_str(), &v) != 0 || v < 0 || v > 63) throw Error("unknown capability " + quote(name));
    mask |= 1ULL << v;
  }
  return mask;
}

namespace {

std::vector<std::string> parse_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    if (!item.empty()) out.push_back(normalize_capability(item));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> resolve_capabilities(const std::optional<std::string>& retain,
                                              const std::optional<std::string>& remove) {
  if (retain && remove) throw Error("--caps-retain and --caps-remove cannot be used together");
  if (retain) return parse_list(*retain);
  std::vector<std::string> caps = default_capabilities();
  if (remove)
    for (const auto& c : parse_list(*remove)) std::erase(caps, c);
  return caps;
}

}  // namespace crt::sandbox
