#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "registry/auth.hpp"
#include "registry/client.hpp"
#include "registry/reference.hpp"
#include "store/oci.hpp"
#include "store/store.hpp"

namespace crt::registry {

struct PullOptions {
  std::optional<Credentials> credentials;               ///< --creds; else the auth files
  std::vector<std::filesystem::path> auth_files = default_auth_files();  ///< --authfile
  std::vector<std::string> insecure_registries;         ///< --insecure-registry, crt.conf
  std::string ca_file;                                  ///< --ca-file, crt.conf
  /// Per-registry CA certificates: DIR/<registry>/ca.crt, as Docker lays them out.
  std::filesystem::path certs_dir = "/etc/crt/certs.d";  ///< crt's --local-config/certs.d
  store::oci::Platform platform = store::oci::host_platform();
  std::function<bool()> cancelled;
  /// The layers pods use: what a failed pull takes out of the store again
  /// leaves them (Store::commit_image).
  store::PinnedLayers pinned;
};

/// Pulls an image into the store: the manifest (for an index, the one of
/// `platform`), its configuration and every layer blob the store lacks,
/// each digest checked, downloads resumed where an interrupted pull left
/// them; then the layers are unpacked (Store::commit_image). A stored blob
/// it reuses but finds damaged is fetched again, with a warning. The image is
/// named after `ref` and recorded with its repo digest. A pull that fails
/// keeps the layer blobs it fetched, for the next to resume from, but not
/// the trees it unpacked.
store::Image pull_image(store::Store& store, const RemoteReference& ref, const PullOptions& opts,
                        store::Progress& progress);

/// The options of the client for `registry` under `opts`.
ClientOptions client_options(const std::string& registry, const std::string& repository, const PullOptions& opts);

}  // namespace crt::registry
