#include "net_snapshot.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>

#include "../support/process.hpp"

namespace crt::test {

namespace stdfs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> link_names() {
  std::vector<std::string> out;
  for (const auto& l : lines_of(run({"ip", "-o", "link", "show"}).out)) {
    // "3: eth0@if2: <…" -> "eth0"
    size_t a = l.find(": ");
    if (a == std::string::npos) continue;
    std::string name = l.substr(a + 2, l.find(':', a + 2) - a - 2);
    out.push_back(name.substr(0, name.find('@')));
  }
  return out;
}

std::vector<std::string> netns_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator("/run/netns", ec)) out.push_back(de.path().filename());
  return out;
}

/// iptables-save output without what changes by itself (comments, counters)
/// and without tables that hold nothing.
std::vector<std::string> rules_of(const char* tool) {
  static const std::regex counters(R"( \[\d+:\d+\]$)");
  std::vector<std::string> out, table;
  bool empty = true;
  for (const auto& l : lines_of(run({tool}).out)) {
    if (l.empty() || l[0] == '#') continue;
    std::string line = std::regex_replace(l, counters, "");
    if (line[0] == '*') {
      table = {std::string(tool) + " " + line};
      empty = true;
      continue;
    }
    table.push_back(std::string(tool) + " " + line);
    bool builtin_accept = line[0] == ':' && line.size() > 7 && line.compare(line.size() - 7, 7, " ACCEPT") == 0;
    if (line != "COMMIT" && !builtin_accept) empty = false;
    if (line == "COMMIT" && !empty) out.insert(out.end(), table.begin(), table.end());
  }
  return out;
}

std::vector<std::string> lease_files() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(kIpamDir, ec); it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename();
    if (!it->is_regular_file(ec) || name == "lock" || name.rfind("last_reserved_ip", 0) == 0) continue;
    std::string content = read_file(it->path());
    std::replace(content.begin(), content.end(), '\n', ' ');
    std::replace(content.begin(), content.end(), '\r', ' ');
    out.push_back(it->path().string() + ": " + content);
  }
  return out;
}

void diff_part(const char* what, std::vector<std::string> a, std::vector<std::string> b, std::string& out) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> added, removed;
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(added));
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(removed));
  for (const auto& l : added) out += std::string(what) + ": + " + l + "\n";
  for (const auto& l : removed) out += std::string(what) + ": - " + l + "\n";
}

}  // namespace

NetSnapshot NetSnapshot::take() {
  NetSnapshot s;
  s.links = link_names();
  s.netns = netns_names();
  s.rules = rules_of("iptables-save");
  std::vector<std::string> six = rules_of("ip6tables-save");
  s.rules.insert(s.rules.end(), six.begin(), six.end());
  s.leases = lease_files();
  return s;
}

std::string NetSnapshot::diff(const NetSnapshot& after) const {
  std::string out;
  diff_part("ip link", links, after.links, out);
  diff_part("ip netns", netns, after.netns, out);
  diff_part("rules", rules, after.rules, out);
  diff_part("leases", leases, after.leases, out);
  return out;
}

std::vector<std::string> NetSnapshot::mentioning(const std::string& needle) const {
  std::vector<std::string> out;
  for (const auto* part : {&links, &netns, &rules, &leases})
    for (const auto& l : *part)
      if (l.find(needle) != std::string::npos) out.push_back(l);
  return out;
}

}  // namespace crt::test
