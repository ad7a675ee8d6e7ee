#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/crt_conf.hpp"
#include "registry/pull.hpp"
#include "store/store.hpp"

namespace crt::runtime {

/// When `crt run` pulls an image.
enum class PullPolicy {
  kNever,    ///< only what the store (or crt itself) has
  kMissing,  ///< when the store lacks it
  kAlways,   ///< every time (a registry's tag may have moved)
};

/// "never", "missing", "always".
PullPolicy parse_pull_policy(const std::string& s);

/// How image references become images.
struct ResolveOptions {
  PullPolicy policy = PullPolicy::kMissing;
  registry::PullOptions pull;
  /// crt.conf's [registries] default: where short names are looked up.
  std::vector<std::string> default_registries;
  /// The configuration file in effect (--config): messages name it.
  std::string config_file = config::kDefaultConfigPath;
  store::Progress* progress = nullptr;  ///< nullptr: none shown
  /// Says what crt decided on the user's behalf (a short name's registry).
  std::function<void(const std::string&)> notice;
  /// What a wait for the store's locks does (another crt removing images,
  /// adding the same layer or downloading the same blob).
  LockWait store_wait;
};

/// The registry references a reference stands for: itself when it names a
/// registry, else the short name under each default registry. Throws when a
/// short name has no default registry to go to: crt never guesses one.
std::vector<registry::RemoteReference> remote_candidates(const std::string& ref, const ResolveOptions& opts);

/// Pulls `ref` (`crt image pull`): the first default registry that has a
/// short name's image wins, and the choice is told through `opts.notice`.
/// --creds (`opts.pull.credentials`) go to one registry only: with a short
/// name that several default registries would be asked for, it throws
/// before any request.
store::Image pull(store::Store& store, const std::string& ref, const ResolveOptions& opts);

}  // namespace crt::runtime
