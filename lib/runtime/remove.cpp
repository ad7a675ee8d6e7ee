#include "runtime/remove.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "common/stop_signal.hpp"
#include "mount/mounts.hpp"
#include "net/netns.hpp"
#include "net/network_record.hpp"
#include "net/pod_network.hpp"
#include "runtime/machines.hpp"
#include "runtime/pods.hpp"
#include "store/work_dir.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

namespace {

/// The cgroup crt made for a pod, and its identity; none where the pod
/// never had one of crt's making. A later pod of the same name has the same
/// paths: only the identity tells them apart.
std::optional<std::pair<cgroup::PodCgroup, std::string>> own_cgroup_of(const cgroup::Layout& layout,
                                                                       const stdfs::path& pod_path) {
  std::optional<CgroupRecord> r = read_cgroup_record(pod_path);
  if (!r || r->identity.empty() || r->identity == CgroupRecord::kBeingMade) return std::nullopt;
  return std::pair{cgroup::PodCgroup(layout, r->relative), r->identity};
}

/// The cgroup of a pod named by its UUID whose crt was killed while it made
/// it (its record was written first): what of it is empty goes. Only such a
/// pod's: the cgroup of a pod's own name may be a later pod's of that name.
/// True if there was some to remove.
bool remove_cgroup_being_made(const cgroup::Layout& layout, const stdfs::path& pod_path) {
  std::optional<CgroupRecord> r = read_cgroup_record(pod_path);
  if (!r || r->identity != CgroupRecord::kBeingMade ||
      r->relative != cgroup::PodCgroup::relative_path("crt-" + pod_path.filename().string()))
    return false;
  cgroup::PodCgroup cg(layout, r->relative);
  std::vector<stdfs::path> there;
  for (const auto& p : cg.paths())
    if (std::error_code ec; stdfs::exists(p, ec)) there.push_back(p);
  if (there.empty()) return false;
  (void)cg.remove_empty();
  return std::any_of(there.begin(), there.end(), [](const stdfs::path& p) {
    std::error_code ec;
    return !stdfs::exists(p, ec);
  });
}

/// What the host's systemd left of the scope or unit of a pod whose crt was
/// killed (crt run removes it itself): on a hybrid host, its v1
/// directories of controllers systemd does not manage. Once systemd is
/// done with the scope, or the unit is no longer active (else the unit's
/// next pod removes them at its end).
void remove_systemd_leftovers(const cgroup::Layout& layout, const stdfs::path& pod_path) {
  if (layout.unified()) return;
  std::optional<CgroupRecord> r = read_cgroup_record(pod_path);
  std::optional<pod::PodManifest> m = read_manifest(pod_path);
  if (!r || !r->identity.empty() || !m) return;
  std::string dir = cgroup::PodCgroup::relative_path(m->machine_name());
  std::string name = cgroup::PodCgroup::scope_name(m->machine_name());
  bool in_unit = r->relative.rfind(dir + "/", 0) != 0;
  if (in_unit) {
    // It ran in the cgroup of a unit of the host's: UNIT/payload.
    stdfs::path relative(r->relative);
    if (relative.filename() != "payload" || relative.parent_path().extension() != ".service") return;
    dir = relative.parent_path().string();
    name = relative.parent_path().filename().string();
  }
  if (sd_booted() > 0) {
    std::optional<bool> gone = wait_scope_gone(name, in_unit ? std::chrono::seconds(0) : std::chrono::seconds(3));
    // No bus to ask (systemd's D-Bus gone): left alone, and for good, as the
    // pod's record goes with it; an error of the bus's keeps the pod for a
    // later gc.
    if (!gone) return;
    if (!*gone) {
      if (in_unit) return;  // it runs again: its pod removes them at its end
      // A pod of the same name runs (of another state directory): the
      // directories are its own now.
      std::vector<dbus::MachineEntry> machines = list_machines();
      if (std::any_of(machines.begin(), machines.end(),
                      [&](const dbus::MachineEntry& e) { return e.name == m->machine_name(); }))
        return;
      throw Error("its scope " + quote(name) + " is still stopping");
    }
  }
  if (!cgroup::PodCgroup(layout, dir).remove_empty_v1()) throw Error("its cgroup " + quote(dir) + " is still busy");
}

/// Everything a pod that no longer runs may have left outside its directory.
void clean_leftovers(PodDir& pod, const RemoveOptions& opts) {
  const stdfs::path& pod_path = pod.path();
  // CNI DEL of each network, then its namespace: from what the pod saved.
  net::teardown_pod_network(pod_path, {opts.force, opts.messages, pod.lock().fd(), opts.network_time_limit});
  // A pod's mounts live in its own mount namespace and vanish with it; some
  // may still be here after a crash of an older crt or a user's own mounts.
  for (const auto& m : mount::mounts_below(pod_path))
    if (::umount2(m.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      throw_errno("unmounting " + quote(m));
  cgroup::Layout layout = cgroup::detect_layout();
  if (auto own = own_cgroup_of(layout, pod_path); own && !own->first.remove_same(own->second))
    throw Error("its cgroup " + quote(own->first.relative()) + " is still busy");
  (void)remove_cgroup_being_made(layout, pod_path);
  remove_systemd_leftovers(layout, pod_path);
  // Left by a crt killed while the pod ran.
  remove_journal_link(pod_path, pod.uuid());
}

bool older_than(const stdfs::path& p, std::chrono::milliseconds age) {
  std::error_code ec;
  auto t = stdfs::last_write_time(p, ec);
  if (ec) return true;
  return stdfs::file_time_type::clock::now() - t >= age;
}

/// Removes the cgroups of this state directory's pods that no longer run
/// (their supervisor was killed); gc removes them with their pods anyway,
/// but only after the grace period. Pods of other state directories, or of
/// none, are not ours to judge.
std::vector<std::string> remove_dead_pod_cgroups(const stdfs::path& state_dir) {
  std::vector<std::string> removed;
  cgroup::Layout layout = cgroup::detect_layout();
  for (const auto& e : list_pods(state_dir)) {
    if (e.locked) continue;
    if (remove_cgroup_being_made(layout, e.path)) removed.push_back(read_cgroup_record(e.path)->relative);
    auto own = own_cgroup_of(layout, e.path);
    if (!own) continue;
    const auto& [cg, identity] = *own;
    if (!cg.dirs_of(identity).empty() && cg.remove_same(identity)) removed.push_back(cg.relative());
  }
  return removed;
}

/// Where pod `uuid` is now, if it still is.
std::optional<PodEntry> current_entry(const stdfs::path& state_dir, const std::string& uuid) {
  for (auto& e : list_pods(state_dir))
    if (e.uuid == uuid) return std::move(e);
  return std::nullopt;
}

/// A pod of crt run --rm whose crt could not remove it (killed, say): it
/// was asked never to be kept, so no grace period keeps it.
bool asked_never_kept(const stdfs::path& pod_path) {
  std::optional<pod::PodManifest> m = read_manifest(pod_path);
  return m && m->remove_at_end;
}

std::string now_marker() { return now_rfc3339(true) + "\n"; }

/// Moves an unlocked pod into a garbage folder, noting when (`note`): first,
/// as an exited pod moved there without the note is removed at once. Where
/// nothing is to be kept (`note` false: no grace period, or a pod that is
/// not kept in any case) no file is written: a gc on a full disk frees it.
bool mark_garbage(const stdfs::path& state_dir, const PodEntry& e, PodState to, bool note) {
  std::optional<PodDir> dir = PodDir::try_lock(state_dir, e.uuid, e.dir_state);
  if (!dir) return false;
  if (note) fs::write_file_atomic(dir->path() / "gc-marked", now_marker(), 0644, fs::Durability::kCached);
  dir->move_to(to);
  return true;
}

}  // namespace

void remove_pod(const stdfs::path& state_dir, const PodEntry& pod, const RemoveOptions& opts) {
  // A pod directory reads as running, preparing or deleting while any
  // process holds it: also another crt rm or gc moving or removing it, gc
  // tearing down its network, its crt run before nspawn starts or after
  // nspawn ended, a network plugin a killed crt left running. Such holds
  // are waited out; a pod whose nspawn runs, or one held for longer, is
  // refused. One another crt removed meanwhile is gone, as asked.
  constexpr auto kHoldWait = std::chrono::seconds(10);
  const auto until = std::chrono::steady_clock::now() + kHoldWait;
  PodEntry e = pod;
  for (int missed = 0;;) {
    PodStatus st = e.status();
    bool held = st == PodStatus::kDeleting || (st == PodStatus::kRunning && !running_nspawn(e)) ||
                (st == PodStatus::kPreparing && e.dir_state == PodState::kPrepared);
    bool late = std::chrono::steady_clock::now() >= until;
    if (held && late) {
      std::string holders = processes_holding(e.path);
      throw Error("removing pod " + e.uuid + ": another process has held it for " + std::to_string(kHoldWait.count()) +
                  " s (" +
                  (holders.empty() ? "a crt starting or removing it, or a network plugin still running" : holders) +
                  "); try again later");
    }
    if (!held && try_remove_pod(state_dir, e, opts)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // Not found: removed, or between two folders as it moved while they
    // were looked at one after another; a second look tells.
    std::optional<PodEntry> now = current_entry(state_dir, e.uuid);
    if (!now && ++missed == 2) return;
    if (now) {
      missed = 0;
      e = *now;
    }
  }
}

bool try_remove_pod(const stdfs::path& state_dir, const PodEntry& pod, const RemoveOptions& opts) {
  return with_context("removing pod " + pod.uuid, [&] {
    PodStatus st = pod.status();
    if (st == PodStatus::kRunning) throw Error("it is running; stop it first ('crt stop')");
    if (st == PodStatus::kDeleting) throw Error("another crt is removing it");
    if (st == PodStatus::kPreparing) throw Error("it is " + std::string(status_name(st)));
    std::optional<PodDir> dir = PodDir::try_lock(state_dir, pod.uuid, pod.dir_state);
    if (!dir) return false;
    remove_locked_pod(*dir, opts);
    return true;
  });
}

void remove_locked_pod(PodDir& dir, const RemoveOptions& opts) {
  // In garbage/, locked: "deleting" until it is gone; if that fails, gc
  // tries again later.
  if (dir.state() != PodState::kGarbage && dir.state() != PodState::kExitedGarbage)
    dir.move_to(dir.state() == PodState::kRun ? PodState::kExitedGarbage : PodState::kGarbage);
  clean_leftovers(dir, opts);
  ::unlink(dir.notify_socket().c_str());  // in /run/crt if its crt run was killed (a long --dir)
  dir.remove();
}

namespace {

/// Tears down the network of pod `e`, unless it is held (running, or
/// another crt's) or its network needs none: true if it did. A failure
/// throws.
bool teardown_network_if_dead(const stdfs::path& state_dir, const PodEntry& e, const MessageSink& messages,
                              std::chrono::milliseconds time_limit) {
  if (e.locked) return false;
  std::optional<net::NetworkState> st;
  bool damaged = false;
  try {
    st = net::read_state(e.path);
  } catch (const Error&) {
    damaged = true;  // torn down by the pod's name (teardown_pod_network)
  }
  if (!damaged && (!st || st->torn_down)) return false;
  std::optional<PodDir> dir = PodDir::try_lock(state_dir, e.uuid, e.dir_state);
  if (!dir) return false;
  net::teardown_pod_network(dir->path(), {false, messages, dir->lock().fd(), time_limit});
  return true;
}

}  // namespace

std::vector<std::string> teardown_dead_pod_networks(const stdfs::path& state_dir, std::vector<std::string>& failed,
                                                    const MessageSink& messages,
                                                    const std::vector<std::string>& passed_over,
                                                    std::chrono::milliseconds network_time_limit) {
  std::vector<std::string> done;
  for (const auto& e : list_pods(state_dir)) {
    if (pending_stop_signal() != 0) break;  // the rest is the next gc's
    if (std::find(passed_over.begin(), passed_over.end(), e.uuid) != passed_over.end()) continue;
    try {
      if (teardown_network_if_dead(state_dir, e, messages, network_time_limit)) done.push_back(e.uuid);
    } catch (const Error& err) {
      failed.push_back(err.what());
    }
  }
  return done;
}

namespace {

/// Whether the record `r` is of a network whose pod directory is gone: its
/// state directory is `own` and has no such pod (a second look for one
/// that moved between two folders as they were listed), or is gone as a
/// whole. Never for one whose owner is not known.
bool orphaned(const net::NetworkRecord& r, const stdfs::path& state_dir, const stdfs::path& own) {
  if (r.owner.empty()) return false;
  std::error_code ec;
  if (!stdfs::exists(r.owner, ec) && !ec) return true;
  if (r.owner != own) return false;
  if (current_entry(state_dir, r.uuid)) return false;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return !current_entry(state_dir, r.uuid);
}

/// Whether net.json in `dir` says the network is torn down.
bool says_torn_down(const stdfs::path& dir) {
  try {
    std::optional<net::NetworkState> s = net::read_state(dir);
    return s && s->torn_down;
  } catch (const Error&) {
    return false;  // cut short: not known
  }
}

/// Whether the network of record `r` is torn down already, and only its
/// record is left (a teardown could not remove it): the record says so,
/// or the pod's directory in its owner's state directory does. A record
/// without its net.json (its removal cut short; one is made whole) has
/// nothing left to tear down from.
bool torn_down_already(const net::NetworkRecord& r) {
  if (std::error_code ec; !stdfs::exists(net::state_file(r.dir), ec) && !ec) return true;
  if (says_torn_down(r.dir)) return true;
  if (r.owner.empty()) return false;
  for (PodState s :
       {PodState::kPrepare, PodState::kPrepared, PodState::kRun, PodState::kExitedGarbage, PodState::kGarbage})
    if (stdfs::path pod = r.owner / "pods" / state_dir_name(s) / r.uuid; says_torn_down(pod)) return true;
  return false;
}

}  // namespace

std::vector<std::string> teardown_orphaned_networks(const stdfs::path& state_dir, std::vector<std::string>& failed,
                                                    const MessageSink& messages,
                                                    std::chrono::milliseconds network_time_limit) {
  std::vector<std::string> done;
  stdfs::path own = net::record_owner_path(state_dir);
  for (const auto& listed : net::network_records()) {
    if (pending_stop_signal() != 0) break;  // the rest is the next gc's
    if (!torn_down_already(listed) && !orphaned(listed, state_dir, own)) continue;
    try {
      // Held by the pod's own teardown, or another gc's (of another state
      // directory, when the owner is gone): theirs. Gone since it was
      // listed: torn down.
      FileLock lock = net::try_lock_network_record(listed);
      if (!lock.valid()) continue;
      // Looked at again under its lock: the pod's own teardown may have
      // ended since it was listed, or its pod made it again (started anew
      // from another state directory, say).
      net::NetworkRecord r = net::network_record(listed.uuid);
      if (torn_down_already(r)) {
        net::remove_network_record(r.uuid);
        continue;
      }
      if (r.owner != listed.owner) continue;
      // A process in its namespace, or holding it: its pod, or its crt
      // tearing it down, is still at it.
      if (std::optional<net::NetNs> ns = net::open_netns("crt-" + r.uuid); ns && net::namespace_in_use(ns->fd.get()))
        continue;
      // As crt rm --force: no crt rm will ever come for a pod that is gone,
      // and a plugin that fails for good (uninstalled) would keep the rest
      // of its network, and fail every gc, for ever. What may stay is told.
      net::teardown_pod_network(r.dir, {true, messages, -1, network_time_limit, true});
      net::remove_network_record(r.uuid);
      done.push_back(r.uuid);
    } catch (const Error& e) {
      failed.push_back(e.what());
    }
  }
  return done;
}

bool teardown_network_after_crt(const stdfs::path& state_dir, const std::string& uuid, int pod_lock_fd,
                                const MessageSink& messages, std::chrono::milliseconds network_time_limit,
                                bool remove) {
  std::optional<PodEntry> e = current_entry(state_dir, uuid);
  if (!e) return false;
  PodDir dir = with_context("tearing down the network of pod " + uuid,
                            [&] { return PodDir::adopt(state_dir, uuid, e->dir_state, pod_lock_fd); });
  // The lock is an open file crt shared with nspawn and with each network
  // plugin it ran: one still running (crt was killed during its ADD) holds
  // it too, and its pod's teardown waits for it, as gc would. (Not for one
  // that opened the pod's directory to look at it.)
  for (auto until = std::chrono::steady_clock::now() + std::chrono::minutes(2);;) {
    std::string holders = processes_holding(e->path, true);
    if (holders.empty()) break;
    if (std::chrono::steady_clock::now() >= until) {
      tell(messages, "warning: left the network of pod " + uuid + " to crt gc: " + holders +
                         " still holds the pod 2 minutes after it ended");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // A net.json cut short is torn down by the pod's name, as gc does.
  net::teardown_pod_network(dir.path(), {false, messages, dir.lock().fd(), network_time_limit});
  if (remove) {
    remove_locked_pod(dir, {false, messages});
    tell(messages, "removed, as its crt run --rm would have");
  }
  return true;
}

GcReport gc(const stdfs::path& state_dir, const GcOptions& opts) {
  GcReport r;
  // A stop (crt-gc.service stopped at shutdown, a ^C) lands between two
  // pods: a removal cut short would leave one half removed.
  auto stopping = [&r] { return (r.stopped_by = pending_stop_signal()) != 0; };
  // Each pod on its own: one that cannot be marked (a full disk) keeps no
  // other from being marked or removed.
  for (const auto& e : list_pods(state_dir)) {
    if (stopping()) return r;
    try {
      PodStatus st = e.status();
      bool marked = false;
      if (st == PodStatus::kExited)
        // A run that only marks leaves the grace period to the next.
        marked = mark_garbage(state_dir, e, PodState::kExitedGarbage,
                              (opts.mark_only || opts.grace_period.count() > 0) && !asked_never_kept(e.path));
      // Not one whose crt has just made its directory and is about to lock it.
      else if (st == PodStatus::kAbortedPrepare && older_than(e.path, std::chrono::seconds(10)))
        marked = mark_garbage(state_dir, e, PodState::kGarbage, false);
      else if (st == PodStatus::kPrepared && older_than(e.path / "pod.json", opts.expire_prepared))
        marked = mark_garbage(state_dir, e, PodState::kGarbage, false);
      if (marked) r.marked.push_back(e.uuid);
    } catch (const Error& err) {
      r.failed.push_back(std::string("marking pod ") + e.uuid + ": " + err.what());
    }
  }
  if (opts.mark_only) return r;
  // A pod whose removal was tried had its network's teardown tried with it:
  // one DEL per gc, and one message, however it went.
  std::vector<std::string> tried;
  for (const auto& e : list_pods(state_dir)) {
    if (stopping()) return r;
    PodStatus st = e.status();
    bool due = st == PodStatus::kGarbage ||
               (st == PodStatus::kExitedGarbage &&
                (older_than(e.path / "gc-marked", opts.grace_period) || asked_never_kept(e.path)));
    if (!due) continue;
    tried.push_back(e.uuid);
    try {
      // One another crt holds (another gc's, say) is theirs to remove.
      if (try_remove_pod(state_dir, e, {false, opts.messages, opts.network_time_limit})) r.removed.push_back(e.uuid);
    } catch (const Error& err) {
      r.failed.push_back(err.what());
    }
  }
  if (stopping()) return r;
  r.cgroups_removed = remove_dead_pod_cgroups(state_dir);
  if (stopping()) return r;
  r.networks_torn_down = teardown_dead_pod_networks(state_dir, r.failed, opts.messages, tried, opts.network_time_limit);
  if (stopping()) return r;
  r.orphaned_networks_torn_down =
      teardown_orphaned_networks(state_dir, r.failed, opts.messages, opts.network_time_limit);
  // A crt makes a record in a moment, holding it: a minute is long past.
  (void)net::remove_unfinished_records(std::chrono::minutes(1), r.failed);
  if (stopping()) return r;
  // What killed crt commands left in the store's work area (an export's
  // layer of a pod's changes, as big as they are): that of one still
  // running is locked, and stays.
  store::Removed work = store::remove_abandoned_work(state_dir / "store" / "tmp");
  r.work_removed = work.count;
  r.work_bytes = work.bytes;
  for (auto& why : work.failed) r.failed.push_back(std::move(why));
  return r;
}

}  // namespace crt::runtime
