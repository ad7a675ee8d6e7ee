#include "net_snapshot.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <stdexcept>

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

/// One table of `nft list ruleset`: its lines, each prefixed with the table
/// and chain (or set …) it belongs to, so that sorted lines still say where
/// they are.
struct NftTable {
  std::vector<std::string> lines;
  bool empty = true;  ///< nothing but base chains without rules that accept
};

/// `nft -s list ruleset`: stateless, so without counters and quotas;
/// expiry times of set elements removed too. Tables holding nothing but
/// empty base chains that accept (as iptables-nft leaves them) count as
/// absent, as in rules_of().
std::vector<std::string> nft_rules() {
  Result r = run({"nft", "-s", "list", "ruleset"});
  if (r.status != 0)
    throw std::runtime_error("'nft list ruleset' failed (scripts/install-deps installs nftables): " + r.err);
  static const std::regex base_chain_accepting(R"(^type \S+ hook \S+ (device \S+ )?priority [^;]+; policy accept;$)");
  static const std::regex expiry(R"( expires [0-9dhms.]+)");
  std::vector<std::string> out;
  NftTable table;
  std::string table_name, block;
  std::vector<std::string> block_lines;
  auto end_block = [&] {
    bool trivial = block.rfind("chain ", 0) == 0 && block_lines.size() == 1 &&
                   std::regex_match(block_lines[0], base_chain_accepting);
    if (!trivial) table.empty = false;
    table.lines.push_back("nft " + table_name + " " + block);
    for (const auto& l : block_lines) table.lines.push_back("nft " + table_name + " " + block + ": " + l);
    block.clear();
    block_lines.clear();
  };
  for (const auto& raw : lines_of(r.out)) {
    std::string l = std::regex_replace(raw, expiry, "");
    size_t start = l.find_first_not_of(" \t");
    if (start == std::string::npos || l[start] == '#') continue;
    l = l.substr(start);
    if (table_name.empty()) {
      if (l.rfind("table ", 0) == 0) {
        table_name = l.substr(0, l.find(" {"));
        table = NftTable{};
      }
      continue;
    }
    if (block.empty()) {
      if (l == "}") {
        if (!table.empty) out.insert(out.end(), table.lines.begin(), table.lines.end());
        table_name.clear();
      } else if (l.size() > 2 && l.compare(l.size() - 2, 2, " {") == 0) {
        block = l.substr(0, l.size() - 2);
      } else {
        table.empty = false;  // e.g. "flags dormant"
        table.lines.push_back("nft " + table_name + ": " + l);
      }
      continue;
    }
    if (l == "}")
      end_block();
    else
      block_lines.push_back(l);
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
  s.nft = nft_rules();
  s.leases = lease_files();
  return s;
}

std::string NetSnapshot::diff(const NetSnapshot& after) const {
  std::string out;
  diff_part("ip link", links, after.links, out);
  diff_part("ip netns", netns, after.netns, out);
  diff_part("rules", rules, after.rules, out);
  diff_part("nft", nft, after.nft, out);
  diff_part("leases", leases, after.leases, out);
  return out;
}

std::vector<std::string> NetSnapshot::mentioning(const std::string& needle) const {
  std::vector<std::string> out;
  for (const auto* part : {&links, &netns, &rules, &nft, &leases})
    for (const auto& l : *part)
      if (l.find(needle) != std::string::npos) out.push_back(l);
  return out;
}

}  // namespace crt::test
