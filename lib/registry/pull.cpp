#include "registry/pull.hpp"

#include <strings.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "common/error.hpp"
#include "registry/client.hpp"

namespace crt::registry {

namespace stdfs = std::filesystem;

ClientOptions client_options(const std::string& registry, const std::string& repository, const PullOptions& opts) {
  ClientOptions c;
  c.tls.ca_file = opts.ca_file;
  if (!opts.certs_dir.empty()) {
    c.registry_ca_file = (opts.certs_dir / registry / "ca.crt").string();
    std::error_code ec;
    if (c.tls.ca_file.empty() && stdfs::exists(c.registry_ca_file, ec)) c.tls.ca_file = c.registry_ca_file;
  }
  // As written in crt.conf or --insecure-registry: host names are
  // case-insensitive, and a reference's is lowercased.
  c.insecure = std::any_of(opts.insecure_registries.begin(), opts.insecure_registries.end(),
                           [&](const std::string& r) { return ::strcasecmp(r.c_str(), registry.c_str()) == 0; });
  c.credentials = opts.credentials;
  if (!c.credentials)
    for (const auto& f : opts.auth_files)
      if ((c.credentials = credentials_from_file(f, registry, repository))) break;
  c.cancelled = opts.cancelled;
  return c;
}

namespace {

/// The configuration `digest` as the store has it, if intact: a damaged one
/// is fetched again (and replaces it when the image is committed).
std::optional<std::string> stored_config(const store::Store& store, const std::string& digest) {
  if (!store.blobs().has(digest)) return std::nullopt;
  try {
    return store.blobs().get(digest, 16 << 20);
  } catch (const Error&) {
    return std::nullopt;
  }
}

/// Fetches the layer blob `l` into the store unless it has it (of its size).
void fetch_layer(store::Store& store, RegistryClient& client, const store::oci::Descriptor& l,
                 store::Progress& progress) {
  // Named here as fetch_blob() names it: the writer's errors do not.
  store::BlobWriter w =
      with_context("fetching blob " + l.digest, [&] { return store::BlobWriter(store.blobs(), l.digest, l.size); });
  if (w.done()) return;
  progress.start(l.digest, "fetching", l.size);
  uint64_t from = w.offset();
  client.fetch_blob(l.digest, w, [&](uint64_t n) { progress.update(l.digest, n); });
  progress.finish(l.digest, from > 0 ? "fetched (resumed at " + std::to_string(from) + " bytes)" : "fetched");
}

/// The rest of a pull once the registry gave manifest `m` of `ref`.
store::Image pull_found(store::Store& store, RegistryClient& client, const RemoteReference& ref,
                        const PullOptions& opts, store::Progress& progress, FetchedManifest m, FileLock lock) {
  std::string index_digest;
  if (store::oci::is_index(m.media_type)) {
    index_digest = m.digest;
    store::oci::Index ix = store::oci::parse_index(m.body);
    const store::oci::Descriptor& d = store::oci::select_platform(ix, opts.platform);
    m = client.manifest(d.digest);
  }
  if (!store::oci::is_manifest(m.media_type))
    throw Error("the registry sent a " + quote(m.media_type) + ", not an image manifest");
  store::oci::Manifest manifest = store::oci::parse_manifest(m.body);

  store::ImageInput in;
  in.manifest = m.body;
  std::optional<std::string> stored = stored_config(store, manifest.config.digest);
  in.config = stored ? *stored : client.small_blob(manifest.config.digest);
  store::oci::check_platform(in.config, opts.platform);  // before its layers are fetched
  for (const auto& l : manifest.layers) {
    fetch_layer(store, client, l, progress);
    // Opened only when the commit finds the stored blob damaged (and takes
    // it out) or gone: it is fetched again, checked as any fetch.
    in.layers.push_back({l.media_type, l.digest, l.size, [&, l]() -> std::unique_ptr<store::ByteSource> {
                           fetch_layer(store, client, l, progress);
                           return std::make_unique<store::FileSource>(store.blobs().path(l.digest));
                         }});
  }
  in.layer_source = store::LayerSource::kRegistry;
  if (auto name = ref.store_name()) in.names.push_back(*name);
  in.repo_digests.push_back(ref.name() + "@" + m.digest);
  // The index's digest names the image too (name@sha256:… copied from a
  // registry's page is often the index's), for this platform: the last
  // image pulled by it has it.
  if (!index_digest.empty()) in.repo_digests.push_back(ref.name() + "@" + index_digest);
  in.cancelled = opts.cancelled;
  // The lock goes with it: a failure lets go of it before it takes out
  // what the commit added.
  return store.commit_image(in, progress, opts.pinned, std::move(lock));
}

}  // namespace

store::Image pull_image(store::Store& store, const RemoteReference& ref, const PullOptions& opts,
                        store::Progress& progress) {
  // A miss stays one: a short name's next registry is tried after it.
  return with_context_keeping_misses("pulling " + quote(ref.str()), [&] {
    // Shared: a gc waits until the blobs are referenced by the image.
    FileLock lock = store.lock_shared();
    RegistryClient client(ref.registry, ref.repository, client_options(ref.registry, ref.repository, opts));
    FetchedManifest m = client.manifest(ref.reference());
    // Found: what fails from here on is no miss. A short name's next
    // registry would give another's image of the name.
    return misses_as_errors(
        [&] { return pull_found(store, client, ref, opts, progress, std::move(m), std::move(lock)); });
  });
}

}  // namespace crt::registry
