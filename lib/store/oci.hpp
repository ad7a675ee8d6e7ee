#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace crt::store::oci {

// Media types of the OCI image spec and of Docker's schema 2, which
// registries and `docker save` still use.
inline constexpr std::string_view kImageIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kImageManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kImageConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The annotation an OCI layout uses to name an image ("v1", or "name:v1").
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  /// Named by the user (--platform, parse_platform()): an image whose
  /// configuration says another platform is refused (check_platform()).
  bool asked = false;
  [[nodiscard]] std::string str() const;
};

/// The platform of this machine (linux/amd64, linux/arm64/v8, …).
Platform host_platform();

/// Parses "os/arch[/variant]": a platform asked for.
Platform parse_platform(std::string_view s);

/// Throws if `want` was asked for and the image configuration `config`
/// (JSON) names another OS or architecture: an index picks by platform, but
/// a single manifest is whatever platform it is (as Docker refuses it).
void check_platform(const std::string& config, const Platform& want);

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
};

/// Whether a document of this media type is an index (a list of manifests).
bool is_index(std::string_view media_type);
/// Whether a document of this media type is an image manifest.
bool is_manifest(std::string_view media_type);
/// Whether a layer of this media type is one crt can unpack.
bool is_layer(std::string_view media_type);

/// The media type a manifest or index document declares; when it declares
/// none, what its fields show.
std::string document_media_type(const nlohmann::json& doc);

/// Parses a JSON document of an image or layout; an error says "WHAT is not
/// valid JSON: …".
nlohmann::json parse_json(std::string_view text, std::string_view what);

/// Parse documents; throw crt::Error naming what is wrong. Every digest is
/// checked to be a sha256 digest (the only algorithm crt accepts).
Manifest parse_manifest(std::string_view text);
Index parse_index(std::string_view text);

/// The manifest of `index` for `want`: same os and architecture, and the
/// same variant when both name one. Throws listing the platforms on offer.
const Descriptor& select_platform(const Index& index, const Platform& want);

nlohmann::json to_json(const Descriptor& d);
/// Serializes an OCI image manifest.
std::string serialize(const Manifest& m);

/// The diff_ids of an image configuration document (rootfs.diff_ids).
std::vector<std::string> config_diff_ids(const nlohmann::json& config);

}  // namespace crt::store::oci
