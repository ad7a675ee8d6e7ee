#include "sandbox/syscall_groups.hpp"

#include <set>

namespace crt::sandbox {

namespace {

void expand(const std::string& entry, std::set<std::string>& out, std::set<std::string>& seen_groups) {
  if (entry.empty() || entry[0] != '@') {
    out.insert(entry);
    return;
  }
  if (!seen_groups.insert(entry).second) return;
  const auto& groups = systemd_syscall_groups();
  auto it = groups.find(entry);
  if (it == groups.end()) return;
  for (const auto& member : it->second) expand(member, out, seen_groups);
}

}  // namespace

std::vector<std::string> expand_syscalls(const SyscallFilter& f) {
  std::set<std::string> out;
  std::set<std::string> seen;
  if (f.allow_list) expand("@default", out, seen);
  for (const auto& e : f.entries) expand(e, out, seen);
  if (f.allow_list) {
    std::set<std::string> removed;
    std::set<std::string> seen_removed;
    for (const auto& e : f.removed) expand(e, removed, seen_removed);
    for (const auto& r : removed) out.erase(r);
  }
  return {out.begin(), out.end()};
}

}  // namespace crt::sandbox
