#include "net/pod_network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <future>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/ip_address.hpp"
#include "common/lock.hpp"
#include "common/strings.hpp"
#include "net/config.hpp"
#include "net/ipv6_loopback.hpp"
#include "net/lease_reclaim.hpp"
#include "net/masquerade.hpp"
#include "net/network_record.hpp"
#include "net/plugin.hpp"
#include "net/plugin_rules.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

json port_mappings(const std::vector<pod::PortMapping>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    json m = {{"hostPort", p.host_port}, {"containerPort", p.pod_port}, {"protocol", p.protocol}};
    if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
    out.push_back(m);
  }
  return out;
}

/// portmap does nothing for a pod that forwards no port but costs a plugin
/// run on each start and stop; such a pod's networks go without it.
NetworkConfig without_idle_portmap(NetworkConfig c) {
  json kept = json::array();
  for (const auto& p : c.plugins)
    if (p.value("type", "") != "portmap") kept.push_back(p);
  if (!kept.empty()) c.plugins = std::move(kept);
  return c;
}

bool forwards_ports(const Attachment& a) {
  auto it = a.runtime_config.find("portMappings");
  return it != a.runtime_config.end() && !it->empty();
}

}  // namespace

bool shares_host_chains(const Attachment& a) {
  if (forwards_ports(a)) return true;
  return std::any_of(a.config.plugins.begin(), a.config.plugins.end(), [](const json& p) {
    std::string type = p.value("type", "");
    return type == "firewall" || type == "portmap";
  });
}

std::chrono::milliseconds port_forwarding_wait_bound(std::chrono::milliseconds limit) {
  constexpr int kHolderPrograms = 10;
  return kHolderPrograms * (limit + kTimeLimitOverrun);
}

namespace {

/// A pod whose crt was killed forwards its ports until its network is torn
/// down; its rules come before a new pod's and take the port's traffic.
/// crt run tears down the dead pods of its own state directory first
/// (launch.cpp); those of another directory, and a teardown that failed,
/// leave rules that only the pod's CNI container ID ("crt-UUID") and a
/// namespace nothing holds tell. Their forwarding goes here (the rest of
/// their rules, with their plugins' DEL, is their teardown's, which would
/// fail on finding them gone); returns their IDs (and warnings for those
/// that would not: another crt may be removing them too, and this pod's
/// start is no place to fail for them). A pod that `lock_pod` finds is dead
/// only while its lock is free, and keeps it locked until its rules are
/// gone (see reclaim_dead_leases()).
///
/// One that still runs (its lock or namespace held) while its port is free
/// for this pod to reserve is one whose crt ended while it stops (or
/// another crt is removing it): its rules would take this pod's traffic for
/// as long as it stops, and then send it nowhere until a crt gc. That
/// fails the start, naming it. Each iptables run may take `time_limit`.
/// Call with lock_port_forwarding() held.
std::vector<std::string> remove_forwards_of_dead_pods(const Attachment& a, const std::string& own_id,
                                                      const MessageSink& messages, const PodLocker& lock_pod,
                                                      std::chrono::milliseconds time_limit) {
  std::vector<HostPort> ports;
  for (const auto& m : port_mappings_of(a)) ports.push_back({m.host_port, m.protocol, m.host_ip});
  std::vector<std::string> removed;
  std::vector<std::string> running;
  for (const auto& [id, certain] : current_port_forwarders(ports, time_limit)) {
    if (id == own_id || id.rfind("crt-", 0) != 0) continue;  // another tool's: not crt's to judge
    std::optional<LockedPod> pod = lock_pod ? lock_pod(id) : std::nullopt;
    bool runs = pod && !pod->lock.valid();  // its pod's crt, or one cleaning up after it, has it
    if (!runs)
      if (std::optional<NetNs> ns = open_netns(id); ns && namespace_in_use(ns->fd.get())) runs = true;
    if (runs) {
      if (certain) running.push_back(id);
      continue;
    }
    try {
      remove_port_forwards_of(id, time_limit);
      removed.push_back(id);
    } catch (const Error& e) {
      tell(messages, std::string("warning: ") + e.what());
    }
  }
  if (!running.empty()) {
    // Which of the ports (a rare path: each asked for again).
    std::vector<std::string> taken, pods;
    for (const auto& p : ports)
      for (const auto& [id, certain] : current_port_forwarders({p}, time_limit))
        if (certain && std::find(running.begin(), running.end(), id) != running.end()) {
          taken.push_back(std::to_string(p.port) + "/" + p.protocol + (p.host_ip.empty() ? "" : " on " + p.host_ip));
          break;
        }
    for (const auto& id : running) pods.push_back(id.substr(4));  // "crt-UUID"
    bool one = taken.size() <= 1;
    throw Error(std::string("--port: host port") + (one ? " " : "s ") +
                (taken.empty() ? std::string("of this pod") : join(taken, ", ")) + (one ? " is" : " are") +
                " still forwarded to pod " + join(pods, ", pod ") +
                ", whose crt ended while the pod runs on (it stops within its stop timeout), or another crt is "
                "removing it: start this pod once it has stopped");
  }
  return removed;
}

/// portmap forwards a port on a host address of one family only to the
/// pod's address of that family (and one of every address to each it has):
/// without one, nothing comes through, and nothing says so.
void check_forward_families(const Attachment& a) {
  if (!forwards_ports(a)) return;
  Result::Families f = parse_result(a.result).families();
  for (const auto& m : port_mappings_of(a)) {
    std::string port = std::to_string(m.host_port);
    if (m.host_ip.empty()) {
      if (!forwarded_host_ips(m.host_ip, f).empty()) continue;
      throw Error("--port: network " + quote(a.config.name) + " gave the pod no address to forward host port " + port +
                  " to");
    }
    bool wants_v6 = is_ipv6(m.host_ip);
    if (wants_v6 ? f.v6 : f.v4) continue;
    throw Error("--port: host port " + port + " on " + m.host_ip + " is " + (wants_v6 ? "IPv6" : "IPv4") +
                ", and network " + quote(a.config.name) + " gave the pod no " + (wants_v6 ? "IPv6" : "IPv4") +
                " address to forward it to (forward an " + (wants_v6 ? "IPv4" : "IPv6") + " address, or none)");
  }
}

Invocation invocation(const NetworkState& s, const Attachment& a, const std::string& netns_path, int pod_lock_fd,
                      const TimeLimit& time_limit) {
  return {s.container_id, netns_path, a.ifname, a.args, s.plugin_dirs, pod_lock_fd, time_limit};
}

}  // namespace

std::chrono::milliseconds teardown_time_bound(const NetworkState& s, std::chrono::milliseconds limit) {
  constexpr std::chrono::seconds kTeardownOwnWork{5};
  size_t dels = 0, unmasquerades = 0, lock_waits = 0;
  bool ports = false;
  for (const auto& a : s.attachments) {
    if (!a.attempted) continue;
    dels += a.config.plugins.size();
    ports = ports || forwards_ports(a);
    lock_waits += size_t{shares_host_chains(a)};
    if (!a.result.is_null() && crt_masquerades(a.config)) try {
        Result::Families f = parse_result(a.result).families();
        unmasquerades += size_t{f.v4} + size_t{f.v6};
      } catch (const Error&) {
        // Nothing crt masqueraded: nothing to unmasquerade.
      }
  }
  size_t programs = std::max(dels, unmasquerades) + 4 + (ports ? 4 : 0);
  lock_waits += size_t{ports};  // remove_unused_portmap_chains()'s
  return static_cast<long>(programs) * (limit + kTimeLimitOverrun) +
         static_cast<long>(lock_waits) * port_forwarding_wait_bound(limit) + kTeardownOwnWork;
}

namespace {

/// Whether teardown_state() takes the lock of the network's record, and how.
enum class RecordWait {
  kHeld,     ///< the caller holds it: crt gc's teardown of an orphan, from its record
  kWait,     ///< waits for it as long as it takes (crt rm, crt gc, the watch's teardown)
  kBounded,  ///< waits for it as long as a teardown may take (crt run's own): see teardown_state()
};

/// lock_port_forwarding() for teardown_state(): crt gc's teardown of an
/// orphan (RecordWait::kHeld), which a crt run may be waiting for, and crt
/// run's own (kBounded) wait for it no longer than port_forwarding_wait_bound()
/// of their limit, the time teardown_time_bound() gives each wait, telling
/// `time_limit`'s on_start every kRecordWaitNotice, as for a program of
/// their own; past it, it throws (and tells on_start 0, for the cleanup
/// after, as the record's wait does). Without a limit, and for crt rm and
/// crt gc of a pod's own network, it waits as long as it takes.
FileLock lock_shared_chains(const TimeLimit& time_limit, RecordWait wait) {
  if (wait == RecordWait::kWait || time_limit.limit.count() <= 0) return lock_port_forwarding();
  std::function<void()> waiting;
  if (time_limit.on_start) waiting = [&time_limit] { time_limit.on_start(time_limit.limit + kTimeLimitOverrun); };
  try {
    return lock_port_forwarding_within(port_forwarding_wait_bound(time_limit.limit), waiting);
  } catch (const Error&) {
    if (time_limit.on_start) time_limit.on_start(std::chrono::milliseconds(0));  // for the cleanup after
    throw;
  }
}

/// DEL of every attachment in reverse order; the namespace goes only when
/// all succeeded, so that a retry can still reach what is inside it. With
/// `lenient`, a DEL that fails is a warning to `messages`, and the rest
/// goes all the same. The plugins hold `pod_lock_fd` too, and each may take
/// `time_limit` (0: no limit), as may each iptables run; each tells its
/// `on_start` as it starts. The pod's lock is held (by crt run, rm or gc,
/// whichever calls this): the iptables-save and -restore of the pod's rules
/// here, and masquerade() in attach(), never run for the same pod at once,
/// and another pod's start takes none of them away meanwhile
/// (remove_forwards_of_dead_pods(), reclaim_dead_leases()).
///
/// Unless the caller holds it (RecordWait::kHeld), the lock of the
/// network's record is held throughout: crt gc of another state directory
/// may take the network for an orphan's (its owner moved or deleted while
/// the pod ran) and must not tear it down at the same time. crt run's own
/// teardown (RecordWait::kBounded) ends a pod, and so maybe a unit's stop:
/// it waits for that gc as long as gc's teardown may take, its programs
/// each given as long as crt run's (teardown_time_bound() of `time_limit`),
/// and no longer (a plugin of gc's hung, or gc told of no limit): the
/// teardown then fails, and the network is the next crt gc's. Meanwhile
/// `time_limit`'s on_start is told every kRecordWaitNotice that a program
/// of gc's may keep it for as long as one of crt's own may take: a unit
/// waiting for crt's stop waits on as for a program of crt's own; then
/// once more, with 0, as the wait is given up. Without a limit (0) crt run
/// waits as crt rm does, and a unit is told nothing.
void teardown_state(const stdfs::path& pod_dir, NetworkState& s, const std::optional<NetNs>& ns, int pod_lock_fd,
                    bool lenient, const MessageSink& messages, const TimeLimit& time_limit, RecordWait wait) {
  if (s.torn_down) return;
  std::string uuid = s.container_id.rfind("crt-", 0) == 0 ? s.container_id.substr(4) : std::string();
  FileLock record;
  if (wait == RecordWait::kBounded && time_limit.limit.count() > 0 && !uuid.empty()) {
    std::function<void()> gc_runs_on;
    if (time_limit.on_start) gc_runs_on = [&time_limit] { time_limit.on_start(time_limit.limit + kTimeLimitOverrun); };
    std::chrono::milliseconds most = teardown_time_bound(s, time_limit.limit);
    std::optional<FileLock> got = lock_network_record_within(uuid, most, gc_runs_on);
    if (!got) {
      if (time_limit.on_start) time_limit.on_start(std::chrono::milliseconds(0));  // for the cleanup after
      throw Error(
          "another crt (a crt gc tearing it down as an orphan's) still held the record of the pod's network "
          "after " +
          seconds_text(most) + ", as long as its teardown may take with " + seconds_text(time_limit.limit) +
          " for each program (--plugin-time-limit)");
    }
    record = std::move(*got);
  } else if (wait != RecordWait::kHeld && !uuid.empty()) {
    record = lock_network_record(uuid);
  }
  std::string netns_path = ns ? ns->proc_path() : std::string();
  std::string first_error;
  bool ports = false;
  // crt's own masquerading goes while the plugins' DEL runs (no plugin
  // touches its chain); whatever of it is left, remove_rules_of() takes.
  std::vector<std::pair<std::string, Result>> masqueraded;
  for (const auto& a : s.attachments)
    if (a.attempted && !a.result.is_null() && crt_masquerades(a.config)) try {
        masqueraded.emplace_back(a.config.name, parse_result(a.result));
      } catch (const Error&) {
        // Not a result crt could have masqueraded: nothing of it to remove.
      }
  auto unmasquerade_all = [&masqueraded, &s, &time_limit] {
    for (const auto& [network, result] : masqueraded) unmasquerade(network, s.container_id, result, time_limit);
  };
  std::future<void> unmasqueraded;
  try {
    unmasqueraded = std::async(std::launch::async, unmasquerade_all);
  } catch (const std::system_error&) {
    unmasqueraded = std::async(std::launch::deferred, unmasquerade_all);  // no thread: in turn
  }
  for (auto it = s.attachments.rbegin(); it != s.attachments.rend(); ++it) {
    if (!it->attempted) continue;
    ports = ports || forwards_ports(*it);
    // A lock not had in time fails the whole teardown, even a lenient one:
    // the DEL did not run, and the next try is to run it.
    FileLock lock;
    if (shares_host_chains(*it)) lock = lock_shared_chains(time_limit, wait);
    std::string failure;
    try {
      del_network(it->config, invocation(s, *it, netns_path, pod_lock_fd, time_limit), it->runtime_config, it->result);
    } catch (const Error& e) {
      failure = e.what();
    }
    // The DEL after an ADD that failed the same way (a plugin not found, a
    // configuration it refuses) says nothing new.
    if (failure.empty() || failure == it->add_error) continue;
    std::string what = "tearing down network " + quote(it->config.name) + ": " + failure;
    // A network whose ADD failed was set up by nothing that a DEL with the
    // same configuration could reach better; it must not keep the rest.
    // One whose ADD began and neither failed nor saved a result may have
    // been set up in full (crt was killed before it saved the result): it
    // keeps the pod as one with a result does.
    if (lenient || !it->add_error.empty() || it->add_error_unnoted)
      tell(messages, "warning: pod " + pod_dir.filename().string() + ": " + what +
                         "; what its plugins keep for the pod (an address lease, say) may stay");
    else if (first_error.empty())
      first_error = what + " ('crt rm --force' removes the pod all the same)";
  }
  unmasqueraded.wait();
  if (first_error.empty()) {
    try {
      remove_rules_of(s.container_id, time_limit);
    } catch (const Error& e) {
      first_error = e.what();
    }
  }
  // After the pod's own rules: a jump to its forwarding chain that a DEL
  // left (one that failed, when forced) keeps the shared chains in use.
  if (ports) {
    try {
      FileLock lock = lock_shared_chains(time_limit, wait);
      remove_unused_portmap_chains(time_limit);
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty()) throw Error(first_error);
  remove_netns(s.netns);
  s.torn_down = true;
  write_state(pod_dir, s);
  if (!uuid.empty()) remove_torn_down_record(uuid, s, messages);
}

/// ADD of `a`, once more if it fails for want of an address and leases of
/// pods that are gone could be released (the subnet may be full of those of
/// pods nobody cleaned up); returns its result.
json add_reclaiming(const Attachment& a, const Invocation& inv, const std::vector<stdfs::path>& plugin_dirs,
                    const NetworkContext& ctx) {
  try {
    return add_network(a.config, inv, a.runtime_config);
  } catch (const Error& e) {
    if (!failed_for_want_of_an_address(e.what())) throw;
    Reclaimed r = reclaim_dead_leases(a.config, plugin_dirs, ctx.lock_pod, ctx.time_limit, ctx.messages);
    for (const auto& f : r.failures) tell(ctx.messages, "warning: " + f);
    if (r.released == 0) throw;
    if (ctx.trace)
      ctx.trace("released " + std::to_string(r.released) + " lease(s) of pods that are gone; trying again");
    try {
      del_network(a.config, inv, a.runtime_config, nullptr);
    } catch (const Error&) {
    }
    return add_network(a.config, inv, a.runtime_config);
  }
}

/// reserve_host_port(), the error naming the crt pods that forward the
/// port where it is in use: a pod whose crt ended has its watch hold the
/// port while the pod stops, and until its network is torn down. Each
/// iptables run may take `time_limit`.
UniqueFd reserve_port_of_pod(const pod::PortMapping& p, std::chrono::milliseconds time_limit) {
  if (std::optional<UniqueFd> fd = try_reserve_host_port(p)) return std::move(*fd);
  std::vector<std::string> pods;
  try {
    for (const auto& [id, certain] : current_port_forwarders({{p.host_port, p.protocol, p.host_ip}}, time_limit))
      if (certain && id.rfind("crt-", 0) == 0) pods.push_back(id.substr(4));
  } catch (const Error&) {
    // Not known: the port is in use all the same.
  }
  if (pods.empty()) return reserve_host_port(p);  // says it is in use
  throw Error("--port: " + pod::host_port_text(p) + " is in use by pod " + join(pods, ", pod ") +
              " (if its crt ended, it stops within its stop timeout, and its network is torn down then)");
}

}  // namespace

UniqueFd reserve_host_port(const pod::PortMapping& p) {
  std::optional<UniqueFd> fd = try_reserve_host_port(p);
  if (!fd) throw Error("--port: " + pod::host_port_text(p) + " is in use (by a process of the host or another pod)");
  return std::move(*fd);
}

std::optional<UniqueFd> try_reserve_host_port(const pod::PortMapping& p) {
  std::string what = pod::host_port_text(p);
  bool v6 = is_ipv6(p.host_ip);
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(p.host_port);
    if (::inet_pton(AF_INET6, p.host_ip.c_str(), &a->sin6_addr) != 1)
      throw Error(quote(p.host_ip) + " is not an IP address");
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(p.host_port);
    if (!p.host_ip.empty() && ::inet_pton(AF_INET, p.host_ip.c_str(), &a->sin_addr) != 1)
      throw Error(quote(p.host_ip) + " is not an IP address");
    len = sizeof *a;
  }
  bool tcp = p.protocol != "udp";
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("reserving " + what);
  // TCP: connections of a host service that stopped (TIME_WAIT) do not
  // hold the port (SO_REUSEADDR while it binds). The socket does not
  // listen: where portmap forwards nothing (::1 on a dual-stack network), a
  // client is refused at once rather than left hanging on a connection no
  // one accepts. A bound socket without SO_REUSEADDR holds the port all the
  // same: another bind fails, with SO_REUSEADDR or SO_REUSEPORT or without.
  int on = 1, off = 0;
  if (tcp) (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  // [::] is IPv6's alone, as portmap forwards it: not IPv4's port too.
  if (v6) (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    if (errno == EADDRINUSE) return std::nullopt;
    if (errno == EADDRNOTAVAIL) throw Error("--port: " + quote(p.host_ip) + " is no address of the host");
    throw_errno("reserving " + what);
  }
  if (tcp && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &off, sizeof off) < 0) throw_errno("reserving " + what);
  return fd;
}

PodNetwork PodNetwork::create(const stdfs::path& pod_dir, int pod_lock_fd, const pod::PodManifest& m,
                              const NetworkContext& ctx) {
  // A prepared pod whose last start could not tear its network down: its
  // networks get their DEL (leases, rules) before a new start's state
  // takes the place of the old one's, and its namespace's name.
  teardown_pod_network(pod_dir, {false, ctx.messages, pod_lock_fd, ctx.time_limit});
  PodNetwork net(pod_dir, pod_lock_fd, ctx);
  pod::NetSpec spec = pod::parse_net_spec(m.net);
  if (!spec.cni()) {
    net.done_ = true;
    return net;
  }
  std::vector<NetworkConfig> configs = select_networks(spec, load_networks(ctx.config_dir / "net.d"),
                                                       [&ctx](const std::string& w) { tell(ctx.messages, w); });
  for (const auto& p : m.ports) net.reserved_ports_.push_back({p, reserve_port_of_pod(p, ctx.time_limit)});
  NetworkState s;
  s.container_id = "crt-" + m.uuid;
  s.netns = s.container_id;
  s.plugin_dirs = plugin_dirs(ctx.config_dir);
  bool ports_placed = m.ports.empty();
  for (size_t i = 0; i < configs.size(); ++i) {
    Attachment a;
    a.config = m.ports.empty() ? without_idle_portmap(configs[i]) : configs[i];
    a.ifname = "eth" + std::to_string(i);
    if (!spec.all) a.args = spec.networks[i].args;
    // Ports are forwarded once, to the first network that can.
    bool can = std::any_of(a.config.plugins.begin(), a.config.plugins.end(),
                           [](const json& p) { return has_capability(p, "portMappings"); });
    if (!ports_placed && can) {
      a.runtime_config["portMappings"] = port_mappings(m.ports);
      ports_placed = true;
    }
    s.attachments.push_back(std::move(a));
  }
  if (!ports_placed)
    throw Error("--port: none of the pod's networks has a plugin with the portMappings capability (such as portmap)");
  write_state(pod_dir, s);
  if (!ctx.owner.empty()) net.record_ = make_network_record(m.uuid, ctx.owner, s);
  net.state_ = std::move(s);
  net.netns_ = create_netns(net.state_->netns);
  net.trace("created network namespace " + net.netns_->path().string());
  return net;
}

PodNetwork::~PodNetwork() {
  if (done_ || !state_) return;
  try {
    teardown();
  } catch (const Error& e) {
    tell(ctx_.messages, std::string("warning: ") + e.what());
  }
}

void PodNetwork::attach() {
  if (!state_) return;
  NetworkState& s = *state_;
  for (auto& a : s.attachments) {
    with_context("setting up network " + quote(a.config.name), [&] {
      Invocation inv = invocation(s, a, netns_->proc_path(), pod_lock_fd_, ctx_.time_limit);
      FileLock lock;
      if (shares_host_chains(a)) lock = lock_port_forwarding();
      if (forwards_ports(a)) {
        for (const auto& id :
             remove_forwards_of_dead_pods(a, s.container_id, ctx_.messages, ctx_.lock_pod, ctx_.time_limit))
          tell(ctx_.messages, "removed the port forwards of pod " + id.substr(4) + ", which no longer runs");
      }
      a.attempted = true;
      save();
      try {
        a.result = add_reclaiming(a, inv, s.plugin_dirs, ctx_);
      } catch (const Error& e) {
        a.add_error = e.what();
        save();
        throw;
      }
      save();
      check_forward_families(a);
      reserve_families_of_any_address(a);
      if (forwards_ports(a))
        keep_ipv6_loopback_unforwarded(a.config.name, s.container_id, port_mappings_of(a),
                                       parse_result(a.result).families(), ctx_.time_limit);
      if (crt_masquerades(a.config)) masquerade(a.config.name, s.container_id, parse_result(a.result), ctx_.time_limit);
    });
    std::string addrs;
    for (const auto& ip : parse_result(a.result).ips) addrs += " " + ip.address;
    trace("attached network " + quote(a.config.name) + " as " + a.ifname + ":" + addrs);
  }
}

void PodNetwork::save() const {
  write_state(pod_dir_, *state_);
  if (!record_.empty()) write_state(record_, *state_);
}

void PodNetwork::reserve_families_of_any_address(const Attachment& a) {
  // Without a host address portmap forwards a port on each family the pod
  // has an address of. IPv4's port was reserved before the ADD; [::] is
  // reserved once the pod has an IPv6 address, or a host service there
  // would lose its traffic to the pod unawares; IPv4's goes again where the
  // pod has no IPv4 address: nothing is forwarded there.
  if (!forwards_ports(a)) return;
  std::vector<std::string> any = forwarded_host_ips("", parse_result(a.result).families());
  bool v4 = std::find(any.begin(), any.end(), "0.0.0.0") != any.end();
  bool v6 = std::find(any.begin(), any.end(), "::") != any.end();
  std::vector<ReservedPort> kept;
  for (auto& r : reserved_ports_) {
    if (!r.port.host_ip.empty()) {
      kept.push_back(std::move(r));
      continue;
    }
    if (v6) {
      kept.push_back({r.port, reserve_host_port({"::", r.port.host_port, r.port.pod_port, r.port.protocol})});
      if (share_.keep) share_.keep(kept.back().fd.get());
    }
    if (v4)
      kept.push_back(std::move(r));
    else if (share_.drop)
      share_.drop(r.fd.get());
  }
  reserved_ports_ = std::move(kept);
}

void PodNetwork::share_reservations(ReservationSharing to) {
  share_ = std::move(to);
  if (share_.keep)
    for (const auto& r : reserved_ports_) share_.keep(r.fd.get());
}

std::vector<Result> PodNetwork::results() const {
  std::vector<Result> out;
  if (!state_) return out;
  for (const auto& a : state_->attachments)
    if (!a.result.is_null()) out.push_back(parse_result(a.result));
  return out;
}

void PodNetwork::teardown() {
  if (done_ || !state_) return;
  done_ = true;  // once: a failure is left to teardown_pod_network()
  teardown_state(pod_dir_, *state_, netns_, pod_lock_fd_, false, ctx_.messages,
                 {ctx_.time_limit, ctx_.teardown_program_starts}, RecordWait::kBounded);
  netns_.reset();
  done_ = true;
  trace("tore down the pod's network");
}

void teardown_pod_network(const stdfs::path& pod_dir, const TeardownOptions& opts) {
  std::optional<NetworkState> s;
  try {
    s = read_state(pod_dir);
  } catch (const Error& e) {
    // Cut short by a crash (it is written cached, not synced): it would
    // keep the pod for ever. What the pod's UUID names goes all the same,
    // its namespace and the rules its plugins tagged with it; an address
    // lease stays until a network short of addresses reclaims it.
    NetworkState named;
    named.container_id = "crt-" + pod_dir.filename().string();
    named.netns = named.container_id;
    tell(opts.messages, std::string("warning: ") + e.what() + ": removing the namespace and firewall rules of " +
                            quote(named.container_id) + " by name; an address lease of the pod's may stay");
    with_context("tearing down the network of pod " + quote(pod_dir.filename().string()), [&] {
      teardown_state(pod_dir, named, std::nullopt, opts.pod_lock_fd, true, opts.messages, opts.time_limit,
                     opts.record_held ? RecordWait::kHeld : RecordWait::kWait);  // no attachment: rules, namespace
      // Whether it forwarded a port is not known either.
      FileLock lock = lock_shared_chains(opts.time_limit, opts.record_held ? RecordWait::kHeld : RecordWait::kWait);
      remove_unused_portmap_chains(opts.time_limit);
    });
    return;
  }
  if (!s) return;
  if (s->torn_down) {
    // Its record, if its removal failed (crt gc removes such records too).
    if (!opts.record_held && s->container_id.rfind("crt-", 0) == 0)
      if (FileLock record = lock_network_record(s->container_id.substr(4)); record.valid())
        remove_torn_down_record(s->container_id.substr(4), *s, opts.messages);
    return;
  }
  with_context("tearing down the network of pod " + quote(pod_dir.filename().string()), [&] {
    std::optional<NetNs> ns = open_netns(s->netns);
    // Without its namespace (a reboot took it) nothing of the pod is left
    // for a DEL tried again to reach: one that fails would keep the pod for
    // ever (a plugin uninstalled, a DHCP daemon gone).
    teardown_state(pod_dir, *s, ns, opts.pod_lock_fd, opts.force || !ns, opts.messages, opts.time_limit,
                   opts.record_held ? RecordWait::kHeld : RecordWait::kWait);
  });
}

}  // namespace crt::net
