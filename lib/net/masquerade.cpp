#include "net/masquerade.hpp"

#include <utility>
#include <vector>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/subprocess.hpp"
#include "net/plugin_rules.hpp"
#include "store/digest.hpp"

namespace crt::net {

namespace {

std::string chain_of(const std::string& network, const std::string& container_id) {
  store::Sha256 h;
  h.update(network + "\n" + container_id);
  return "CRT-MASQ-" + h.hex().substr(0, 16);
}

/// The pod's host-side interface (ptp's veth), or "" if the plugin named none.
std::string host_interface(const Result& r) {
  std::vector<std::string> host = r.host_interfaces();
  return host.empty() ? "" : host.front();
}

/// The FORWARD rules that let the pod's address through a host whose
/// FORWARD policy is DROP (Docker's, ufw's): what it sends, and what comes
/// back or was forwarded to it from a host port. Before the host's own
/// rules, so only through the pod's own host-side interface: the pod's
/// address coming from anywhere else passes only what the host's rules let.
std::vector<std::string> forward_rules(const Result::Ip& ip, const std::string& host_if, const std::string& comment) {
  std::string in = host_if.empty() ? "" : " -i " + host_if;
  std::string out = host_if.empty() ? "" : " -o " + host_if;
  return {"FORWARD" + in + " -s " + ip.ip() + " -m comment --comment " + comment + " -j ACCEPT",
          "FORWARD" + out + " -d " + ip.ip() +
              " -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment " + comment + " -j ACCEPT"};
}

std::string family_script(const std::string& chain, const std::string& comment, const Result& r, bool v6) {
  std::string body;
  std::string filter;
  for (const auto& ip : r.ips) {
    if (ip.v6() != v6) continue;
    if (body.empty()) body = ":" + chain + " - [0:0]\n";
    body += "-A " + chain + " -d " + ip.address + " -m comment --comment " + comment + " -j ACCEPT\n";
    body += "-A " + chain + " ! -d " + (v6 ? "ff00::/8" : "224.0.0.0/4") + " -m comment --comment " + comment +
            " -j MASQUERADE\n";
    body += "-A POSTROUTING -s " + ip.ip() + " -m comment --comment " + comment + " -j " + chain + "\n";
    for (const auto& rule : forward_rules(ip, host_interface(r), comment)) filter += "-I " + rule + "\n";
  }
  return body.empty() ? body : "*nat\n" + body + "COMMIT\n*filter\n" + filter + "COMMIT\n";
}

std::string family_removal(const std::string& chain, const std::string& comment, const Result& r, bool v6) {
  std::string body;
  std::string filter;
  for (const auto& ip : r.ips)
    if (ip.v6() == v6) {
      body += "-D POSTROUTING -s " + ip.ip() + " -m comment --comment " + comment + " -j " + chain + "\n";
      for (const auto& rule : forward_rules(ip, host_interface(r), comment)) filter += "-D " + rule + "\n";
    }
  return body.empty() ? body
                      : "*nat\n" + body + "-F " + chain + "\n-X " + chain + "\nCOMMIT\n*filter\n" + filter + "COMMIT\n";
}

/// Runs each non-empty script with its family's iptables-restore, each for
/// `time_limit` at most (0: no limit): the failures' messages, "" if none.
std::string restore(const MasqueradeScripts& s, const TimeLimit& time_limit = {}) {
  std::vector<std::string> env = current_environment();
  std::string errors;
  for (const auto& [tool, script] : {std::pair{"iptables-restore", s.v4}, std::pair{"ip6tables-restore", s.v6}}) {
    if (script.empty()) continue;
    ProgramResult res = run_program({tool, "-w", "--noflush"}, env, script, -1, time_limit);
    std::string error = res.timed_out     ? " " + killed_after_text(time_limit.limit)
                        : res.status != 0 ? " failed: " + res.err
                                          : "";
    if (!error.empty()) errors += std::string(errors.empty() ? "" : "; ") + tool + error;
  }
  return errors;
}

}  // namespace

MasqueradeScripts masquerade_scripts(const std::string& network, const std::string& container_id, const Result& r) {
  std::string chain = chain_of(network, container_id);
  std::string comment = rule_comment(network, container_id);
  return {family_script(chain, comment, r, false), family_script(chain, comment, r, true)};
}

void masquerade(const std::string& network, const std::string& container_id, const Result& r,
                std::chrono::milliseconds time_limit) {
  with_context("masquerading the pod's traffic", [&] {
    if (std::string errors = restore(masquerade_scripts(network, container_id, r), time_limit); !errors.empty())
      throw Error(errors);
  });
}

MasqueradeScripts unmasquerade_scripts(const std::string& network, const std::string& container_id, const Result& r) {
  std::string chain = chain_of(network, container_id);
  std::string comment = rule_comment(network, container_id);
  return {family_removal(chain, comment, r, false), family_removal(chain, comment, r, true)};
}

bool unmasquerade(const std::string& network, const std::string& container_id, const Result& r,
                  const TimeLimit& time_limit) {
  return restore(unmasquerade_scripts(network, container_id, r), time_limit).empty();
}

}  // namespace crt::net
