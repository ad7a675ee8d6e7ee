#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/image.hpp"

namespace crt::registry {

/// An image in a registry: "registry/repository[:tag][@sha256:…]".
struct RemoteReference {
  std::string registry;    ///< host[:port], lowercase ("docker.io", "127.0.0.1:5000")
  std::string repository;  ///< "library/busybox"
  std::string tag;         ///< empty when only a digest was given
  std::string digest;      ///< "sha256:…" or empty

  /// "registry/repository:tag", "…@digest" or both.
  [[nodiscard]] std::string str() const;
  /// "registry/repository".
  [[nodiscard]] std::string name() const { return registry + "/" + repository; }
  /// The tag or digest to ask the registry for.
  [[nodiscard]] std::string reference() const { return digest.empty() ? tag : digest; }
  /// The name the image gets in the store; nullopt when pulled by digest
  /// (with a tag or without): then only its repo digest names it.
  [[nodiscard]] std::optional<store::Reference> store_name() const;
};

/// Parses a reference that names its registry (its first component has a
/// '.' or a ':', or is "localhost"); nullopt for a short name ("busybox",
/// "library/busybox"). Throws crt::Error on an invalid reference, and on a
/// registry named by an IPv6 address. The registry is lowercased, and
/// Docker Hub's other names are "docker.io". A missing tag is "latest"
/// unless a digest is given; Docker Hub's "docker.io/x" is
/// "docker.io/library/x".
std::optional<RemoteReference> parse_remote_reference(std::string_view ref);

/// The short name `ref` qualified by each registry of `registries`, in order.
std::vector<RemoteReference> qualify_short_name(std::string_view ref, const std::vector<std::string>& registries);

/// Whether `host` is another name of Docker Hub's ("index.docker.io",
/// "registry-1.docker.io").
bool is_docker_hub_alias(std::string_view host);

/// The host to send API requests to ("docker.io" is "registry-1.docker.io").
std::string api_host(const std::string& registry);

}  // namespace crt::registry
