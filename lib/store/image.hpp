#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace crt::store {

/// What an image says about running it: the "config" object of an OCI image
/// configuration.
struct RunConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  ///< "K=V"
  std::string user;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::string stop_signal;
  /// The platform the image is for (the document's "os", "architecture",
  /// "variant"; empty where it names none).
  std::string os, architecture, variant;
};

/// Parses the OCI image configuration JSON (the whole document).
RunConfig parse_run_config(const nlohmann::json& image_config);

/// The OCI architecture name of this machine ("amd64", "arm64" …).
std::string host_architecture();

/// "os/architecture[/variant]" of an image whose platform is not this
/// machine's (it would fail with "exec format error", or run emulated);
/// nullopt where it is, or the image names none.
std::optional<std::string> foreign_platform(const RunConfig& run);

/// Throws crt::Error naming the first value of `run` that is not valid
/// UTF-8, which JSON (the image's configuration, the store's index) cannot
/// hold.
void check_utf8(const RunConfig& run);

/// What makes `name` (not empty) no name systemd passes to an app (its
/// Environment= takes what a shell does, and ignores any other); empty
/// when nothing.
std::string env_name_problem(std::string_view name);

/// Throws crt::Error for an entry of `run.env` that names no variable
/// ("=1", ""): no run could start the image.
void check_env(const RunConfig& run);

/// What crt run does not do as an image's Env `run.env` asks, one warning
/// each, naming the image as `image` ("image 'x:1'"): an entry without '='
/// (left out, as docker leaves it) and a name systemd cannot pass (crt run
/// refuses the image).
std::vector<std::string> env_warnings(const RunConfig& run, const std::string& image);

/// Builds an OCI image configuration document for a single-layer rootfs.
nlohmann::json make_image_config(const RunConfig& run, const std::vector<std::string>& diff_ids,
                                 const std::string& created);

/// A layer blob as distributed (compressed or not), kept in the store.
struct LayerBlob {
  std::string digest;
  std::string media_type;
  int64_t size = 0;
};

/// A manifest of an image ("sha256:" of its blob) with the layer blobs it names.
struct ImageManifest {
  std::string digest;
  std::vector<LayerBlob> blobs;
};

/// An image in the store.
struct Image {
  std::string id;                   ///< "sha256:<hex>" of its configuration blob
  std::vector<std::string> names;   ///< "name:tag"
  std::vector<std::string> layers;  ///< diff_ids, lowest first
  uint64_t size = 0;                ///< bytes of its layer trees
  std::string created;              ///< RFC 3339
  /// "sha256:" of its manifest blob: the one it was first added by, or the
  /// one of other_manifests the name or repo digest it was found by names
  /// (manifest_of()); empty for an image imported from a rootfs (it has
  /// none until exported).
  std::string manifest;
  std::vector<LayerBlob> blobs;  ///< one per layer when `manifest` is set
  /// The manifests besides `manifest` its names and repo digests name: it
  /// was added again from another registry or repository, or by another
  /// manifest of the same configuration (its layers compressed otherwise,
  /// say). Kept, with their layer blobs, so that the store gives back every
  /// manifest a name or repo digest of it names, while one does.
  std::vector<ImageManifest> other_manifests;
  std::vector<std::string> repo_digests;  ///< "registry/repo@sha256:<manifest or index>"
  /// The manifest each of its names and repo digests was added by, where it
  /// is another than the one it gives by default: `manifest` for a name,
  /// the digest it holds for a repo digest (a multi-platform index's digest
  /// holds the index's, and gives the manifest the index led to). An index
  /// written before these were kept has none: its names and indexes'
  /// digests give `manifest`, as they did.
  std::map<std::string, std::string> ref_manifests;
  /// What crt imported this image from as its stage1 (Store::ImportOptions::
  /// stage1_source): "sha256:<hex>" of a stage1 tarball, or a stage1
  /// directory's path; empty for every other image, also one an older crt
  /// let in under the stage1 images' name.
  std::string stage1_source;
  RunConfig config;  ///< filled from the configuration blob on lookup

  /// The manifest `ref`, one of its names ("name:tag") or repo digests,
  /// names: the one it was added by (ref_manifests), else, for a repo
  /// digest, the digest it holds, for a name (or anything else) `manifest`.
  [[nodiscard]] std::string manifest_of(std::string_view ref) const;
  /// Records that `ref`, one of its names or repo digests, was added by the
  /// manifest `digest` (its own or one of other_manifests).
  void set_manifest_of(const std::string& ref, const std::string& digest);
  /// Forgets the ref_manifests of names and repo digests it no longer has
  /// (they went to another image, or were removed), and the other_manifests
  /// none of those it has gives: a gc then takes the blobs only they had.
  void forget_unnamed();
  /// Makes the manifest `digest` (one of other_manifests) its `manifest`
  /// and `blobs`; false, and nothing changed, when it has no such other one.
  bool select_manifest(std::string_view digest);
  /// Every blob of the store it uses: its configuration, its manifests and
  /// their layer blobs.
  [[nodiscard]] std::vector<std::string> blob_digests() const;

  /// The name a user's `ref` found this image by ("busybox" -> its
  /// "busybox:latest"); for an ID, a digest or no name of its own, its first
  /// name (or `ref` when it has none).
  [[nodiscard]] std::string name_for(std::string_view ref) const;
};

void to_json(nlohmann::json& j, const Image& im);
void from_json(const nlohmann::json& j, Image& im);

/// A parsed image reference "name[:tag]".
struct Reference {
  std::string name;
  std::string tag;
  [[nodiscard]] std::string str() const { return name + ":" + tag; }
};

/// Parses "name[:tag]" (tag defaults to "latest"); throws on invalid input.
Reference parse_reference(std::string_view ref);

/// The name of crt's stage1 images in the store ("crt-stage1:HASH", by the
/// stage1 tarball's digest). The image under it is what every later pod
/// boots as its systemd, as root outside every app's sandbox: no image may
/// come in under it but crt's own stage1.
inline constexpr std::string_view kStage1Name = "crt-stage1";

/// Throws when `ref` has the stage1 images' name; `where` says where the
/// name came from ("the image would be named ...").
void refuse_stage1_name(const Reference& ref, std::string_view where);

/// A registry's "HOST[:PORT]" (an image name's first part) split at its
/// colon.
struct HostPort {
  std::string_view host;
  std::string_view port;  ///< digits; empty: no port
};

/// Splits "HOST[:PORT]"; nullopt when a colon is followed by anything but
/// digits (nothing included). The host is left for the caller to check.
std::optional<HostPort> split_host_port(std::string_view s);

/// Whether `part` is one part of an image name between '/' as the
/// distribution spec has them: lowercase letters and digits, with single
/// '.', '_', "__" or runs of '-' between.
bool valid_name_part(std::string_view part);

/// parse_reference(), or nullopt where `ref` is no name (an image ID, say).
std::optional<Reference> try_parse_reference(std::string_view ref);

/// The short name of an image reference: its last path component without tag
/// ("docker.io/library/nginx:1" -> "nginx").
std::string base_name(std::string_view ref);

}  // namespace crt::store
