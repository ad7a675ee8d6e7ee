#include "registry/flags.hpp"

#include <CLI/CLI.hpp>

namespace crt::registry {

void add_registry_flags(CLI::App& cmd, RegistryFlags& f) {
  cmd.add_option(
      "--creds", f.creds,
      "USER:PASSWORD for the image's registry alone (with a short name, only when crt.conf names one default "
      "registry); else from the auth files");
  cmd.add_option("--authfile", f.authfiles,
                 "containers-auth.json or docker config.json to take credentials from (default: $REGISTRY_AUTH_FILE, "
                 "$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json)")
      ->allow_extra_args(false);
  cmd.add_option("--insecure-registry", f.insecure,
                 "Reach this registry (HOST[:PORT]) over plain HTTP or unverified HTTPS")
      ->allow_extra_args(false);
  cmd.add_option("--ca-file", f.ca_file, "PEM bundle of CAs to trust besides the system's");
}

}  // namespace crt::registry
