#include "net/portmap_chains.hpp"

#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
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

namespace {

void clean_family(const char* tool, const char* restore_tool) {
  std::vector<std::string> env = current_environment();
  ProgramResult list = run_program({tool, "-t", "nat", "-S"}, env);
  if (list.status != 0) return;  // no nat table, or no such tool: nothing of portmap's
  std::string script = portmap_removal_script(list.out);
  if (script.empty()) return;
  ProgramResult r = run_program({restore_tool, "--noflush"}, env, script);
  if (r.status != 0)
    throw Error(std::string("removing portmap's unused chains with ") + restore_tool + ": " + r.err);
}

}  // namespace

FileLock lock_port_forwarding() {
  fs::make_dirs("/run/crt", 0755);
  return FileLock::acquire("/run/crt/port-forwarding.lock", FileLock::Mode::kExclusive);
}

void remove_unused_portmap_chains() {
  clean_family("iptables", "iptables-restore");
  clean_family("ip6tables", "ip6tables-restore");
}

}  // namespace crt::net
