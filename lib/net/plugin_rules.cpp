#include "net/plugin_rules.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/ip_address.hpp"
#include "common/subprocess.hpp"

namespace crt::net {

namespace {

const char* const kShared[] = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"};

bool names_shared_chain(const std::string& line, const char* prefix) {
  for (const char* c : kShared)
    if (line.rfind(std::string(prefix) + c + " ", 0) == 0 || line == std::string(prefix) + c) return true;
  return false;
}

bool jumps_to_shared_chain(const std::string& line) {
  for (const char* c : kShared) {
    std::string target = std::string(" -j ") + c;
    if (line.size() >= target.size() && line.compare(line.size() - target.size(), target.size(), target) == 0)
      return true;
  }
  return false;
}

}  // namespace

std::string portmap_removal_script(const std::string& rules) {
  std::istringstream in(rules);
  std::vector<std::string> jumps;
  bool present = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "-N CNI-HOSTPORT-DNAT") present = true;
    // Rules of a pod's forwarding chains hang below CNI-HOSTPORT-DNAT.
    if (line.rfind("-A CNI-HOSTPORT-DNAT ", 0) == 0) return {};
    if (line.rfind("-A ", 0) == 0 && !names_shared_chain(line, "-A ") && jumps_to_shared_chain(line))
      jumps.push_back("-D" + line.substr(2));
  }
  if (!present) return {};
  std::string script = "*nat\n";
  for (const auto& j : jumps) script += j + "\n";
  for (const char* c : kShared) script += std::string("-F ") + c + "\n";
  for (const char* c : kShared) script += std::string("-X ") + c + "\n";
  return script + "COMMIT\n";
}

std::string rules_of_removal_script(const std::string& table, const std::string& rules, const std::string& container_id,
                                    const std::vector<std::string>& only_chains) {
  const std::string tag = "id: \\\"" + container_id + "\\\"";
  std::istringstream in(rules);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<std::string> deletes;
  std::vector<std::string> targets;  // chains jumped to by tagged rules
  std::vector<std::string> created;
  for (const auto& line : lines) {
    if (line.rfind("-N ", 0) == 0) created.push_back(line.substr(3));
    if (line.rfind("-A ", 0) != 0 || line.find(tag) == std::string::npos) continue;
    if (!only_chains.empty() && std::none_of(only_chains.begin(), only_chains.end(),
                                             [&](const std::string& c) { return line.rfind("-A " + c + " ", 0) == 0; }))
      continue;
    deletes.push_back("-D" + line.substr(2));
    auto j = line.rfind(" -j ");
    if (j != std::string::npos) {
      std::string target = line.substr(j + 4);
      target = target.substr(0, target.find(' '));
      if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
    }
  }
  if (deletes.empty()) return {};
  // A target chain goes too when it is a chain of its own (not a built-in
  // one or a shared one) that only tagged rules jump to, whatever is in it:
  // portmap tags the jump to a pod's CNI-DN-… chain but not the DNAT rules
  // inside, which would otherwise stay, and keep the shared chains they
  // jump to from going.
  std::string script = "*" + table + "\n";
  for (const auto& d : deletes) script += d + "\n";
  for (const auto& chain : targets) {
    if (std::find(created.begin(), created.end(), chain) == created.end()) continue;
    bool shared = false;
    for (const char* c : kShared) shared = shared || chain == c;
    bool only_ours = !shared;
    for (const auto& line : lines) {
      if (line.rfind("-A ", 0) != 0) continue;
      bool deleted = std::find(deletes.begin(), deletes.end(), "-D" + line.substr(2)) != deletes.end();
      if (deleted) continue;
      bool jumps = line.size() >= chain.size() + 4 &&
                   line.compare(line.size() - chain.size() - 4, std::string::npos, " -j " + chain) == 0;
      if (jumps) only_ours = false;
    }
    if (only_ours) script += "-F " + chain + "\n-X " + chain + "\n";
  }
  return script + "COMMIT\n";
}

std::map<std::string, std::string> tables_as_listed(const std::string& saved) {
  std::map<std::string, std::string> tables;
  std::string* table = nullptr;
  std::string chains;  // -P and -N come before the rules, as iptables -S lists them
  std::string rules;
  std::istringstream in(saved);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind('*', 0) == 0) {
      table = &tables[line.substr(1)];
      chains.clear();
      rules.clear();
    } else if (table == nullptr) {
      continue;  // comments before the first table
    } else if (line.rfind(':', 0) == 0) {
      // ":CHAIN POLICY [packets:bytes]"; a chain of one's own has policy "-".
      std::istringstream words(line.substr(1));
      std::string chain, policy;
      words >> chain >> policy;
      chains += (policy == "-" ? "-N " + chain : "-P " + chain + " " + policy) + "\n";
    } else if (line.rfind("-A ", 0) == 0) {
      rules += line + "\n";
    } else if (line == "COMMIT") {
      *table = chains + rules;
      table = nullptr;
    }
  }
  return tables;
}

namespace {

/// Whether `a` and `b`, addresses as iptables or a user writes them, are one.
bool same_address(const std::string& a, const std::string& b) {
  IpFamily family = ip_family(a);
  if (family == IpFamily::kNone || ip_family(b) == IpFamily::kNone) return a == b;
  if (family != ip_family(b)) return false;
  unsigned char x[sizeof(in6_addr)] = {}, y[sizeof(in6_addr)] = {};
  int af = family == IpFamily::kV6 ? AF_INET6 : AF_INET;
  if (::inet_pton(af, a.c_str(), x) != 1 || ::inet_pton(af, b.c_str(), y) != 1) return a == b;
  return std::memcmp(x, y, sizeof x) == 0;
}

/// Whether `ports` ("8080", "80,8080", "9000:9100" as --dports lists them)
/// has `port`.
bool lists_port(const std::string& ports, uint16_t port) {
  std::istringstream in(ports);
  std::string range;
  while (std::getline(in, range, ',')) {
    size_t colon = range.find(':');
    unsigned first = 0, last = 0;
    const char* end = range.data() + range.size();
    const char* mid = range.data() + std::min(colon, range.size());
    if (std::from_chars(range.data(), mid, first).ec != std::errc()) continue;
    if (colon == std::string::npos)
      last = first;
    else if (std::from_chars(mid + 1, end, last).ec != std::errc())
      continue;
    if (port >= first && port <= last) return true;
  }
  return false;
}

}  // namespace

std::map<std::string, bool> port_forwarders(const std::string& nat_rules, const HostPort& p) {
  static const std::regex kJump(
      R"re(^-A CNI-HOSTPORT-DNAT -p (\w+) .*id: \\"([^\\"]+)\\".* --dports ([0-9,:]+) -j (\S+))re");
  static const std::regex kDnat(R"re(^-A (\S+) (?:-d ([0-9a-fA-F.:]+)/\d+ )?-p (\w+) -m \w+ --dport (\d+) -j DNAT )re");
  // Every address: portmap writes no -d for it.
  bool any = p.host_ip.empty() || same_address(p.host_ip, "0.0.0.0") || same_address(p.host_ip, "::");
  std::map<std::string, std::string> chains;  // a forwarding chain -> its pod's ID
  std::istringstream in(nat_rules);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kJump) && m[1] == p.protocol && lists_port(m[3].str(), p.port))
      chains[m[4].str()] = m[2].str();
    lines.push_back(std::move(line));
  }
  std::map<std::string, bool> out;
  for (const auto& [chain, id] : chains) out.emplace(id, false);
  for (const auto& line : lines) {
    std::smatch m;
    if (!std::regex_search(line, m, kDnat) || m[3] != p.protocol || std::to_string(p.port) != m[4].str()) continue;
    auto chain = chains.find(m[1].str());
    if (chain == chains.end()) continue;
    if (any || !m[2].matched || same_address(m[2].str(), p.host_ip)) out[chain->second] = true;
  }
  return out;
}

namespace {

/// run_program(), or nothing when `argv[0]` is not installed (the spawn
/// fails with ENOENT); any other failure to run it is an error, and so is
/// a run longer than `time_limit` (0: no limit): it is killed.
std::optional<ProgramResult> run_if_installed(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                              const TimeLimit& time_limit) {
  std::optional<ProgramResult> r;
  try {
    r = run_program(argv, env, {}, -1, time_limit);
  } catch (const SystemError& e) {
    if (e.code() != ENOENT) throw;
    return std::nullopt;
  }
  if (r->timed_out) throw Error(argv[0] + " " + killed_after_text(time_limit.limit));
  return r;
}

/// Every table of one address family, as tables_as_listed() gives them: one
/// `iptables-save` (or `ip6tables-save`). Nothing when the tool is not
/// installed or lists no tables: then no plugin left rules there either.
std::optional<std::map<std::string, std::string>> listed_tables(const char* save_tool,
                                                                const std::vector<std::string>& env,
                                                                const TimeLimit& time_limit = {}) {
  std::optional<ProgramResult> saved = run_if_installed({save_tool}, env, time_limit);
  if (!saved || saved->status != 0) return std::nullopt;
  return tables_as_listed(saved->out);
}

/// Removes what remove_rules_of() removes in one address family: one listing
/// of every table, and at most one iptables-restore.
void remove_tagged(const char* save_tool, const char* restore_tool, const std::string& id, const TimeLimit& time_limit,
                   const std::vector<std::string>& only_nat_chains = {}) {
  std::string what = std::string("removing the rules plugins left for ") + id;
  std::optional<std::map<std::string, std::string>> tables =
      with_context(what, [&] { return listed_tables(save_tool, current_environment(), time_limit); });
  if (!tables) return;
  std::string script;
  for (const char* table : {"nat", "filter"}) {
    if (!only_nat_chains.empty() && std::string_view(table) != "nat") continue;
    if (auto it = tables->find(table); it != tables->end())
      script += rules_of_removal_script(table, it->second, id, only_nat_chains);
  }
  if (script.empty()) return;
  run_iptables_restore(restore_tool, script, time_limit, what);
}

void clean_family(const char* save_tool, const char* restore_tool, const TimeLimit& time_limit) {
  std::string what = "removing portmap's unused chains";
  std::optional<std::map<std::string, std::string>> tables =
      with_context(what, [&] { return listed_tables(save_tool, current_environment(), time_limit); });
  if (!tables || tables->count("nat") == 0) return;  // no nat table: nothing of portmap's
  std::string script = portmap_removal_script((*tables)["nat"]);
  if (script.empty()) return;
  run_iptables_restore(restore_tool, script, time_limit, what);
}

std::filesystem::path port_forwarding_lock_path() {
  return std::filesystem::path(fs::kRunDir) / "port-forwarding.lock";
}

}  // namespace

std::string rule_comment(const std::string& network, const std::string& container_id) {
  return "\"name: \\\"" + network + "\\\" id: \\\"" + container_id + "\\\"\"";
}

void run_iptables_restore(const char* tool, const std::string& script, const TimeLimit& time_limit,
                          const std::string& what) {
  ProgramResult r = run_program({tool, "-w", "--noflush"}, current_environment(), script, -1, time_limit);
  if (r.timed_out) throw Error(what + ": " + tool + " " + killed_after_text(time_limit.limit));
  if (r.status != 0) throw Error(what + " with " + tool + ": " + r.err);
}

FileLock lock_port_forwarding() {
  fs::make_dirs(fs::kRunDir, 0755);
  return FileLock::acquire(port_forwarding_lock_path(), FileLock::Mode::kExclusive);
}

FileLock lock_port_forwarding_within(std::chrono::milliseconds most, const std::function<void()>& while_held) {
  fs::make_dirs(fs::kRunDir, 0755);
  std::filesystem::path path = port_forwarding_lock_path();
  FileLock lock = FileLock::acquire_within(path, FileLock::Mode::kExclusive, most, while_held);
  if (lock.valid()) return lock;
  std::string holders = processes_holding(path, true);
  throw Error("another crt" + (holders.empty() ? std::string() : " (" + holders + ")") +
              " held the lock of the host's shared firewall chains (" + quote(path.string()) + ") longer than " +
              seconds_text(most) + ", as long as another's setup or teardown of a network may keep it");
}

std::map<std::string, bool> current_port_forwarders(const std::vector<HostPort>& ports,
                                                    std::chrono::milliseconds time_limit) {
  std::map<std::string, bool> out;
  std::vector<std::string> env = current_environment();
  for (const char* tool : {"iptables-save", "ip6tables-save"}) {
    bool v6 = std::string_view(tool) == "ip6tables-save";
    std::optional<std::map<std::string, std::string>> tables;
    for (const auto& p : ports) {
      if (!p.host_ip.empty() && is_ipv6(p.host_ip) != v6) continue;
      if (!tables) tables = listed_tables(tool, env, time_limit);
      if (!tables || tables->count("nat") == 0) break;
      bool family_certain = !v6 || !p.host_ip.empty();
      for (const auto& [id, forwards] : port_forwarders((*tables)["nat"], p))
        out[id] = out[id] || (forwards && family_certain);
    }
  }
  return out;
}

void remove_rules_of(const std::string& container_id, const TimeLimit& time_limit) {
  remove_tagged("iptables-save", "iptables-restore", container_id, time_limit);
  remove_tagged("ip6tables-save", "ip6tables-restore", container_id, time_limit);
}

void remove_port_forwards_of(const std::string& container_id, std::chrono::milliseconds time_limit) {
  // nat OUTPUT: crt's [::1] refusal of the pod's ports (ipv6_loopback.hpp),
  // the only rule there tagged with a pod's ID.
  const std::vector<std::string> chains = {"CNI-HOSTPORT-DNAT", "OUTPUT"};
  remove_tagged("iptables-save", "iptables-restore", container_id, time_limit, chains);
  remove_tagged("ip6tables-save", "ip6tables-restore", container_id, time_limit, chains);
}

void remove_unused_portmap_chains(const TimeLimit& time_limit) {
  clean_family("iptables-save", "iptables-restore", time_limit);
  clean_family("ip6tables-save", "ip6tables-restore", time_limit);
}

}  // namespace crt::net
