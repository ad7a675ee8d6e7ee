#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace crt::registry {

/// How to reach registries, as given to `crt image pull`, `crt run` and
/// `crt prepare` (empty = crt.conf's or the default).
struct RegistryFlags {
  std::string creds;                   ///< --creds USER:PASSWORD
  std::vector<std::string> authfiles;  ///< --authfile, in order
  std::vector<std::string> insecure;   ///< --insecure-registry, besides crt.conf's
  std::string ca_file;                 ///< --ca-file, instead of crt.conf's
};

/// Adds --creds, --authfile, --insecure-registry and --ca-file to `cmd`.
void add_registry_flags(CLI::App& cmd, RegistryFlags& f);

}  // namespace crt::registry
