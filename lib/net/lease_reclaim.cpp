#include "net/lease_reclaim.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "net/netns.hpp"
#include "net/network_record.hpp"
#include "net/plugin.hpp"
#include "net/plugin_rules.hpp"
#include "net/state.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;

namespace {

struct Lease {
  std::string container_id;
  std::string ifname;
};

std::optional<Lease> read_lease(const stdfs::path& file) {
  std::string text;
  try {
    text = fs::read_file(file);
  } catch (const Error&) {
    return std::nullopt;
  }
  std::istringstream in(text);
  Lease l;
  std::getline(in, l.container_id);
  std::getline(in, l.ifname);
  for (std::string* s : {&l.container_id, &l.ifname}) *s = trim_end(*s, " \r");
  if (l.ifname.empty()) l.ifname = "eth0";
  return l;
}

/// What a teardown would note once network `network` of the pod whose
/// CNI container ID is `id` has had its DEL on `ifname` (its lease released
/// for want of addresses): its net.json no longer asks for that DEL, and
/// once none is left the network is torn down, its namespace gone, and its
/// record goes (a failure to remove it is a warning to `messages`). The
/// namespace of a pod crt knows nothing of (`pod` empty) goes at once: no
/// process is in it, and its pod's teardown finds the rest without it.
void note_released(const std::string& id, const std::string& network, const std::string& ifname,
                   const std::optional<LockedPod>& pod, const MessageSink& messages) {
  if (!pod) {
    remove_netns(id);
    return;
  }
  std::optional<NetworkState> s;
  try {
    s = read_state(pod->dir);
  } catch (const Error&) {
    return;  // damaged: its teardown goes by the pod's name (teardown_pod_network())
  }
  if (!s || s->torn_down) return;
  for (auto& a : s->attachments)
    if (a.config.name == network && a.ifname == ifname) a.attempted = false;
  if (std::none_of(s->attachments.begin(), s->attachments.end(), [](const Attachment& a) { return a.attempted; })) {
    remove_netns(s->netns);
    s->torn_down = true;
  }
  write_state(pod->dir, *s);
  // Another pod's record: this pod's start is no place to fail for it.
  if (s->torn_down) remove_torn_down_record(id.substr(4), *s, messages);
}

}  // namespace

std::optional<stdfs::path> host_local_lease_dir(const NetworkConfig& net) {
  for (const auto& p : net.plugins) {
    auto ipam = p.find("ipam");
    if (ipam == p.end() || !ipam->is_object() || ipam->value("type", "") != "host-local") continue;
    std::string data_dir = ipam->value("dataDir", "/var/lib/cni/networks");
    return stdfs::path(data_dir) / net.name;
  }
  return std::nullopt;
}

Reclaimed reclaim_dead_leases(const NetworkConfig& net, const std::vector<stdfs::path>& plugin_dirs,
                              const PodLocker& lock_pod, std::chrono::milliseconds time_limit,
                              const MessageSink& messages) {
  Reclaimed out;
  auto dir = host_local_lease_dir(net);
  if (!dir) return out;
  // The leases, and their pods' namespaces, before the scan of /proc: a
  // pod's crt holds its namespace from before its ADD makes the lease to
  // the pod's end, so the scan sees every pod of these leases still there.
  struct Candidate {
    stdfs::path file;
    Lease lease;
    std::optional<NetNs> ns;
    ino_t ns_inode = 0;
    std::optional<LockedPod> pod;  ///< locked from before the scan to the release
    FileLock record;               ///< so is its network's record, if it has one
  };
  std::vector<Candidate> candidates;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(*dir, ec)) {
    std::string name = de.path().filename();
    if (name == "lock" || name.rfind("last_reserved_ip", 0) == 0) continue;
    auto lease = read_lease(de.path());
    if (!lease || lease->container_id.rfind("crt-", 0) != 0) continue;
    std::optional<LockedPod> pod = lock_pod ? lock_pod(lease->container_id) : std::nullopt;
    if (pod && !pod->lock.valid()) continue;  // its pod's crt, or one cleaning up after it, has it
    // Held by a teardown of its network (crt gc's of an orphan, its pod's
    // own come late), which releases the lease and removes the record.
    std::optional<FileLock> record = try_lock_network_record(lease->container_id.substr(4));
    if (!record) continue;
    // Looked at again under the locks: such a teardown may have ended
    // since it was read, and the address gone to another pod.
    if (auto again = read_lease(de.path()); !again || again->container_id != lease->container_id) continue;
    Candidate c{de.path(), *lease, open_netns(lease->container_id), 0, std::move(pod), std::move(*record)};
    struct stat st {};
    if (c.ns && ::fstat(c.ns->fd.get(), &st) == 0) c.ns_inode = st.st_ino;
    candidates.push_back(std::move(c));
  }
  bool any_namespace =
      std::any_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.ns.has_value(); });
  std::unordered_set<ino_t> in_use = any_namespace ? namespaces_in_use() : std::unordered_set<ino_t>();
  for (auto& candidate : candidates) {
    // Its locks go once it is passed over or released: its pod's own
    // teardown, or one of its network's, may be waiting for them.
    const Candidate c = std::move(candidate);
    if (c.ns && (c.ns_inode == 0 || in_use.count(c.ns_inode) > 0)) continue;
    Invocation inv{
        c.lease.container_id, c.ns ? c.ns->proc_path() : "", c.lease.ifname, "", plugin_dirs, -1, time_limit};
    try {
      with_context("releasing the lease " + quote(c.file.string()) + " of a pod that is gone", [&] {
        del_network(net, inv, nlohmann::json::object(), nullptr);
        // Its port forwards too, which that DEL (without the pod's port
        // mappings) left: the address may go to a pod that forwards none.
        remove_rules_of(c.lease.container_id, time_limit);
        note_released(c.lease.container_id, net.name, c.lease.ifname, c.pod, messages);
      });
      ++out.released;
    } catch (const Error& e) {
      out.failures.push_back(e.what());
    }
  }
  return out;
}

bool failed_for_want_of_an_address(std::string_view add_error) {
  // host-local's words (its allocator's): "no IP addresses available in
  // range set: …", "requested IP address … is not available in range set …".
  return add_error.find("no IP addresses available in range set") != std::string_view::npos ||
         add_error.find("is not available in range set") != std::string_view::npos;
}

}  // namespace crt::net
