#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.hpp"
#include "common/message.hpp"
#include "common/subprocess.hpp"
#include "net/lease_reclaim.hpp"
#include "net/netns.hpp"
#include "net/result.hpp"
#include "net/state.hpp"
#include "pod/manifest.hpp"

namespace crt::net {

/// How long each program a network's setup or teardown runs (a plugin's ADD
/// or DEL, an iptables-save or -restore) may take unless told otherwise: one
/// takes a second or so, and one that hangs would hang crt run (its start or
/// its end, and so a unit's start or stop), crt rm and crt gc (every later
/// one too) for ever. One that takes longer is killed, and fails: a start
/// fails (its network torn down, the pod removed); a teardown fails, and
/// the network is left for the next crt gc.
inline constexpr std::chrono::seconds kPluginTimeLimit{30};
static_assert(pod::kStopCleanup >= kPluginTimeLimit + kTimeLimitOverrun + std::chrono::seconds(5),
              "a unit's stop must outlast a teardown program's time limit and its kill, with time for the rest");

/// Whether the ADD and DEL of attachment `a` run under lock_port_forwarding():
/// its plugins make or change chains all pods share, and do it without a
/// lock of their own (a look for the chain or rule, then its making): when
/// it forwards ports, portmap's CNI-HOSTPORT-* chains, which crt removes
/// once unused; whenever it runs the firewall plugin (or portmap), CNI-FORWARD,
/// CNI-ADMIN and the jumps to them. Two such plugins at once make two jumps
/// (the firewall plugin of Debian's 1.1.1), or fail on the chain the other
/// made (containernetworking/plugins#335). A pod that forwards no port on
/// crt's default network (ptp alone) takes no lock.
bool shares_host_chains(const Attachment& a);

/// How long crt gc's teardown of an orphan's network, and crt run's own
/// teardown, wait for lock_port_forwarding() each time when each program
/// may take `limit`: as long as another crt may hold it to set up or tear
/// down a network, ten programs (its plugins, its iptables-save and
/// -restore runs) each given `limit` and its kill; past it their teardown
/// fails, and the next crt gc tries again.
std::chrono::milliseconds port_forwarding_wait_bound(std::chrono::milliseconds limit);

/// How long tearing down `s` may take at most, each program `limit` and
/// its kill (kTimeLimitOverrun), for crt run waiting for a crt gc that
/// tears it down as an orphan's: each plugin's DEL in turn, crt's own
/// unmasquerading beside them (an iptables-restore for each family of each
/// network it masquerades), then remove_rules_of() (a save and a restore
/// for each family) and, for a pod that forwards ports,
/// remove_unused_portmap_chains() (as many); a wait for
/// lock_port_forwarding() (port_forwarding_wait_bound()) before each DEL
/// that shares_host_chains() and before remove_unused_portmap_chains(); and
/// 5 s for the rest.
std::chrono::milliseconds teardown_time_bound(const NetworkState& s, std::chrono::milliseconds limit);

/// Where crt finds its network configuration, and how it reports progress.
struct NetworkContext {
  std::filesystem::path config_dir = "/etc/crt";  ///< networks in its net.d/
  std::function<void(std::string_view)> trace;    ///< --debug lines; may be empty
  MessageSink messages;                           ///< warnings
  /// The pods of crt's state directory, whose leases and rules are left
  /// alone while their lock is held; may be empty.
  PodLocker lock_pod;
  /// How long each program of the network's setup and teardown may take
  /// (0: no limit).
  std::chrono::milliseconds time_limit = kPluginTimeLimit;
  /// Called before each program of the teardown starts (each plugin's DEL,
  /// each iptables run) with how long it may take at most
  /// (TimeLimit::on_start): a unit that waits for crt's stop waits that
  /// long again. So too, every kRecordWaitNotice, while the teardown waits
  /// for a crt gc tearing the network down as an orphan's (as long as that
  /// teardown may take, each program given `time_limit`: the network is
  /// then left to the next crt gc). May be empty; may be called from two
  /// threads at once.
  std::function<void(std::chrono::milliseconds)> teardown_program_starts;
  /// The state directory whose pod this is, recorded with its network
  /// (make_network_record()) from before its namespace exists to the end of
  /// its teardown, for crt gc to find the network of a pod whose directory
  /// is gone; empty: no record.
  std::filesystem::path owner;
};

/// A pod's own network, from its namespace's creation to its teardown;
/// nothing at all for --net=host and --net=none. Destroying it tears the
/// network down unless that was done already.
class PodNetwork {
 public:
  /// Tears down what an earlier start of the pod left of its network
  /// (teardown_pod_network()), saves which networks the pod joins, in which
  /// namespace, in `pod_dir` (so that teardown_pod_network() can undo
  /// everything from then on), then creates the namespace. No plugin runs yet.
  /// `pod_lock_fd`: the pod's lock, held by the caller, which every plugin
  /// holds too (Invocation::pod_lock_fd); it must outlive the PodNetwork.
  static PodNetwork create(const std::filesystem::path& pod_dir, int pod_lock_fd, const pod::PodManifest& m,
                           const NetworkContext& ctx);

  PodNetwork(PodNetwork&& o) noexcept
      : pod_dir_(std::move(o.pod_dir_)),
        pod_lock_fd_(o.pod_lock_fd_),
        ctx_(std::move(o.ctx_)),
        state_(std::move(o.state_)),
        netns_(std::move(o.netns_)),
        reserved_ports_(std::move(o.reserved_ports_)),
        record_(std::move(o.record_)),
        share_(std::move(o.share_)),
        done_(std::exchange(o.done_, true)) {}
  PodNetwork& operator=(PodNetwork&&) = delete;
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;
  ~PodNetwork();

  /// For nspawn's --network-namespace-path; empty without a namespace.
  [[nodiscard]] std::string namespace_path() const { return netns_ ? netns_->proc_path() : std::string(); }

  /// CNI ADD of each network, in order; each result is saved as it comes.
  void attach();

  /// The results of attach(), in interface order.
  [[nodiscard]] std::vector<Result> results() const;

  /// CNI DEL of each network in reverse order, then the namespace goes.
  void teardown();

  /// Where copies of the sockets that hold the pod's host ports go (crt's
  /// watch: StopOnCrtDeath::keep_port_reservation()), so that the ports
  /// stay held after crt's death until the network is torn down: `keep` is
  /// given those held now at once, and those attach() adds; `drop` one it
  /// lets go of (a family the pod has no address of).
  struct ReservationSharing {
    std::function<void(int)> keep;
    std::function<void(int)> drop;
  };
  void share_reservations(ReservationSharing to);

 private:
  PodNetwork(std::filesystem::path pod_dir, int pod_lock_fd, NetworkContext ctx)
      : pod_dir_(std::move(pod_dir)), pod_lock_fd_(pod_lock_fd), ctx_(std::move(ctx)) {}
  /// Once network `a` is set up: see pod_network.cpp.
  void reserve_families_of_any_address(const Attachment& a);
  /// Saves the state in the pod's directory and in its record.
  void save() const;
  void trace(const std::string& what) const {
    if (ctx_.trace) ctx_.trace(what);
  }

  std::filesystem::path pod_dir_;
  int pod_lock_fd_;
  NetworkContext ctx_;
  std::optional<NetworkState> state_;
  std::optional<NetNs> netns_;
  /// A socket bound to a host port the pod forwards (`port` as given: an
  /// empty host address may be reserved on 0.0.0.0 and on [::]).
  struct ReservedPort {
    pod::PortMapping port;
    UniqueFd fd;
  };
  /// One for each host port the pod forwards, for as long as it runs: the
  /// port is the pod's, neither a host process's nor another pod's (which
  /// would fail to bind it, as the pod did).
  std::vector<ReservedPort> reserved_ports_;
  /// The network's record (make_network_record()); empty without one.
  std::filesystem::path record_;
  ReservationSharing share_;
  bool done_ = false;
};

/// How teardown_pod_network() takes a DEL that fails.
struct TeardownOptions {
  /// Go on all the same (crt rm --force): the failure is a warning.
  bool force = false;
  MessageSink messages;  ///< the warnings
  /// The pod's lock the caller holds, which every plugin holds too
  /// (Invocation::pod_lock_fd); -1: none.
  int pod_lock_fd = -1;
  /// How long each plugin (Invocation::time_limit), and each iptables-save
  /// or -restore, may take; 0: no limit.
  std::chrono::milliseconds time_limit = kPluginTimeLimit;
  /// The caller holds the lock of the pod's network record
  /// (lock_network_record()): crt gc tearing down an orphan's network from
  /// its record. Otherwise the teardown takes it.
  bool record_held = false;
};

/// Tears down the network of the pod whose directory is `pod_dir` from what
/// is saved there alone: CNI DEL of each network in reverse order (given the
/// namespace while it exists), then the namespace's bind mount under
/// /run/netns goes. Idempotent, and nothing to do for a pod without a network
/// of its own. For `crt rm` and `crt gc` of pods whose crt was killed, or that
/// a reboot left behind. The pod must not be running (hold its lock). A DEL
/// that fails is an error, and the namespace stays for a later try; where
/// the namespace is gone already, or with `opts.force`, it is a warning and
/// the teardown goes on. The network's record (network_record.hpp) is
/// locked throughout, waiting for a crt gc tearing it down as an orphan's;
/// once it is all torn down, the record goes too (a failure to remove it is
/// a warning: crt gc removes it later). A plugin or iptables run that takes longer than
/// `opts.time_limit` is killed, and fails as a DEL that fails. A saved state
/// that cannot be read (a crash cut it short) is a warning: the namespace and the rules named after the pod's
/// UUID go, an address lease may stay.
void teardown_pod_network(const std::filesystem::path& pod_dir, const TeardownOptions& opts = {});

/// A socket bound, not listening, to the host port of `p` (an empty host
/// address: IPv4's any): while it is open no one else binds the port (with
/// SO_REUSEADDR or SO_REUSEPORT or without), and a connection to it is
/// refused. "[::]" is IPv6's alone. Throws when the port is in use.
UniqueFd reserve_host_port(const pod::PortMapping& p);
/// reserve_host_port(), but nullopt when the port is in use.
std::optional<UniqueFd> try_reserve_host_port(const pod::PortMapping& p);

}  // namespace crt::net
