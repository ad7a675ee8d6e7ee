#pragma once

// Which state directory owns each pod network crt sets up, kept where no
// pod directory is: a pod directory deleted by hand, or its whole state
// directory, would otherwise leave the pod's namespace, address lease and
// firewall rules on the host for ever, with nothing to say whose they were
// (crt gc: runtime::teardown_orphaned_networks()).

#include <filesystem>
#include <string>
#include <vector>

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

/// Every record there is (none when the directory is missing).
std::vector<NetworkRecord> network_records();

/// `state_dir` as records name it: absolute, without "." or ".." or
/// symlinks where it exists.
std::filesystem::path record_owner_path(const std::filesystem::path& state_dir);

}  // namespace crt::net
