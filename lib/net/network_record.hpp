#pragma once

// Which state directory owns each pod network crt sets up, kept where no
// pod directory is: a pod directory deleted by hand, or its whole state
// directory, would otherwise leave the pod's namespace, address lease and
// firewall rules on the host for ever, with nothing to say whose they were
// (crt gc: runtime::teardown_orphaned_networks()).
//
// The locks of a pod network, in the order a process that holds more than
// one takes them, waiting for each: the pod's own (its directory's), its
// record's (lock_network_record()), lock_port_forwarding(). A lock only
// tried (try_lock_network_record(), a pod's lock tried by lease reclaim)
// never waits, and may be tried holding any of them: lease reclaim runs in
// a start's ADD, with lock_port_forwarding() held, and tries the pods' and
// records' locks of the leases it releases.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/lock.hpp"
#include "common/message.hpp"
#include "net/state.hpp"

namespace crt::net {

/// Where the records are: a directory per pod, named by its UUID, holding
/// `owner` (the absolute path of the pod's state directory) and a copy of
/// the pod's net.json (state_file()), so that it can be torn down as a pod
/// directory is (teardown_pod_network()).
inline constexpr const char* kNetworkRecordsDir = "/run/crt/networks";

/// One record, as found.
struct NetworkRecord {
  std::string uuid;
  std::filesystem::path dir;    ///< what teardown_pod_network() takes for the pod's directory
  std::filesystem::path owner;  ///< the state directory; empty when it cannot be read
};

/// The record directory of pod `uuid`, whether there is one or not.
std::filesystem::path network_record_dir(const std::string& uuid);

/// Makes the record of pod `uuid` of state directory `state_dir` with
/// `state` as its net.json, whole or not at all (a directory made aside,
/// then renamed into place), in place of an earlier one. Returns its
/// directory.
std::filesystem::path make_network_record(const std::string& uuid, const std::filesystem::path& state_dir,
                                          const NetworkState& state);

/// Removes the record of pod `uuid`; fine if there is none.
void remove_network_record(const std::string& uuid);

/// Removes the record of pod `uuid`, whose network `s` is torn down
/// (s.torn_down), once it says so too: should the removal fail, crt gc
/// finds it torn down and removes it then, tearing nothing down again. A
/// failure is a warning to `messages`: the network is torn down all the
/// same.
void remove_torn_down_record(const std::string& uuid, const NetworkState& s, const MessageSink& messages);

/// The lock of pod `uuid`'s record, held while its network is torn down:
/// by the pod's own teardown (its crt run's end, crt rm, crt gc), and by
/// crt gc's teardown of an orphan, which must never run beside it. Waits
/// for it; empty (valid() false) when there is no record. Taken in the
/// order above.
FileLock lock_network_record(const std::string& uuid);

/// How often lock_network_record_within() calls its `while_held`.
inline constexpr std::chrono::seconds kRecordWaitNotice{10};

/// lock_network_record(), for a caller that must not wait for ever (crt
/// run's own teardown, whose end a unit waits for): the lock is tried every
/// 100 ms for `most` at most; nullopt past it. `while_held`, unless empty,
/// is called when the lock turns out to be held and every kRecordWaitNotice
/// while it stays so, for a caller that must say it still waits (crt under
/// a unit).
std::optional<FileLock> lock_network_record_within(const std::string& uuid, std::chrono::milliseconds most,
                                                   const std::function<void()>& while_held = {});

/// The lock of record `r`, if no one holds it and `r` is still the record
/// of its pod (not removed meanwhile, nor made again); else empty.
FileLock try_lock_network_record(const NetworkRecord& r);

/// For a teardown that does without a record where there is none (lease
/// reclaim): the lock of pod `uuid`'s record, empty (valid() false) when
/// it has none; nullopt when another process holds it (its network is
/// being torn down there) or it was removed or made again as it was locked.
std::optional<FileLock> try_lock_network_record(const std::string& uuid);

/// Removes what crts killed while making a record left (the directory made
/// aside, before its rename): those older than `age` that no crt holds.
/// Returns their names; one that could not be removed is in `failed`.
std::vector<std::string> remove_unfinished_records(std::chrono::seconds age, std::vector<std::string>& failed);

/// The record of pod `uuid` as it is now (its owner empty when there is
/// none, or it cannot be read).
NetworkRecord network_record(const std::string& uuid);

/// Every record there is (none when the directory is missing).
std::vector<NetworkRecord> network_records();

/// `state_dir` as records name it: absolute, without "." or ".." or
/// symlinks where it exists.
std::filesystem::path record_owner_path(const std::filesystem::path& state_dir);

}  // namespace crt::net
