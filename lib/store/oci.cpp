#include "store/oci.hpp"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "store/digest.hpp"
#include "store/image.hpp"

namespace crt::store::oci {

using nlohmann::json;

std::string Platform::str() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }

Platform host_platform() {
  Platform p{"linux", host_architecture(), ""};
  if (p.architecture == "arm64") p.variant = "v8";
  if (p.architecture == "arm") {
    struct utsname u {};
    ::uname(&u);
    p.variant = std::string(u.machine).rfind("armv6", 0) == 0 ? "v6" : "v7";
  }
  return p;
}

Platform parse_platform(std::string_view s) {
  Platform p;
  size_t a = s.find('/');
  if (a == std::string_view::npos || a == 0) throw Error("invalid platform " + quote(s) + ": expected OS/ARCH[/VARIANT]");
  p.os = std::string(s.substr(0, a));
  std::string_view rest = s.substr(a + 1);
  size_t b = rest.find('/');
  p.architecture = std::string(rest.substr(0, b));
  if (b != std::string_view::npos) p.variant = std::string(rest.substr(b + 1));
  if (p.architecture.empty()) throw Error("invalid platform " + quote(s) + ": expected OS/ARCH[/VARIANT]");
  p.asked = true;
  return p;
}

void check_platform(const std::string& config, const Platform& want) {
  if (!want.asked) return;
  nlohmann::json j = nlohmann::json::parse(config, nullptr, false);
  if (!j.is_object()) return;  // refused as a configuration elsewhere
  std::string os = j.value("os", ""), arch = j.value("architecture", "");
  if (os.empty() && arch.empty()) return;
  if (os != want.os || arch != want.architecture)
    throw Error("the image is for " + escape_controls(os + "/" + arch) + ", not " + want.str() + " as --platform asks");
}

bool is_index(std::string_view t) { return t == kImageIndex || t == kDockerManifestList; }
bool is_manifest(std::string_view t) { return t == kImageManifest || t == kDockerManifest; }

bool is_layer(std::string_view t) {
  return t == kLayerTar || t == kLayerGzip || t == kLayerZstd || t == kDockerLayerGzip ||
         t == "application/vnd.docker.image.rootfs.diff.tar" ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" ||
         t == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

std::string document_media_type(const json& doc) {
  if (!doc.is_object()) throw Error("not a JSON object");
  if (doc.contains("mediaType") && doc["mediaType"].is_string()) return doc["mediaType"].get<std::string>();
  if (doc.contains("manifests")) return std::string(kImageIndex);
  if (doc.contains("config") && doc.contains("layers")) return std::string(kImageManifest);
  if (doc.value("schemaVersion", 0) == 1) throw Error("Docker schema 1 manifests are not supported");
  throw Error("neither an image manifest nor an index");
}

json parse_json(std::string_view text, std::string_view what) {
  try {
    return json_text::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string(what) + " is not valid JSON: " + e.what());
  }
}

namespace {

Descriptor parse_descriptor(const json& j) {
  Descriptor d;
  d.media_type = j.value("mediaType", "");
  d.digest = j.at("digest").get<std::string>();
  if (!is_sha256_digest(d.digest)) throw Error("unsupported digest " + quote(d.digest) + " (crt verifies sha256)");
  d.size = j.at("size").get<int64_t>();
  if (d.size < 0) throw Error("negative size of " + d.digest);
  if (j.contains("platform") && j["platform"].is_object()) {
    const json& p = j["platform"];
    d.platform = Platform{p.value("os", ""), p.value("architecture", ""), p.value("variant", ""), false};
  }
  if (j.contains("annotations") && j["annotations"].is_object())
    d.annotations = j["annotations"].get<std::map<std::string, std::string>>();
  return d;
}

}  // namespace

Manifest parse_manifest(std::string_view text) {
  json j = parse_json(text, "image manifest");
  try {
    Manifest m;
    m.media_type = document_media_type(j);
    if (!is_manifest(m.media_type)) throw Error("media type " + quote(m.media_type) + " is not an image manifest");
    m.config = parse_descriptor(j.at("config"));
    for (const auto& l : j.at("layers")) {
      Descriptor d = parse_descriptor(l);
      if (!is_layer(d.media_type)) throw Error("layer " + d.digest + " has unsupported media type " + quote(d.media_type));
      m.layers.push_back(std::move(d));
    }
    return m;
  } catch (const json::exception& e) {
    throw Error(std::string("invalid image manifest: ") + e.what());
  } catch (const Error& e) {
    throw e.with_context("invalid image manifest");
  }
}

Index parse_index(std::string_view text) {
  json j = parse_json(text, "image index");
  try {
    Index ix;
    ix.media_type = document_media_type(j);
    if (!is_index(ix.media_type)) throw Error("media type " + quote(ix.media_type) + " is not an index");
    for (const auto& m : j.at("manifests")) ix.manifests.push_back(parse_descriptor(m));
    return ix;
  } catch (const json::exception& e) {
    throw Error(std::string("invalid image index: ") + e.what());
  } catch (const Error& e) {
    throw e.with_context("invalid image index");
  }
}

const Descriptor& select_platform(const Index& index, const Platform& want) {
  const Descriptor* loose = nullptr;
  std::string offered;
  for (const auto& d : index.manifests) {
    if (!d.platform) continue;
    const Platform& p = *d.platform;
    if (p.architecture == "unknown") continue;  // attestation manifests
    offered += (offered.empty() ? "" : ", ") + p.str();
    if (p.os != want.os || p.architecture != want.architecture) continue;
    if (p.variant == want.variant) return d;
    if (loose == nullptr && (p.variant.empty() || want.variant.empty())) loose = &d;
  }
  if (loose != nullptr) return *loose;
  throw Error("no image for " + want.str() + " in the index" +
              (offered.empty() ? "" : " (it has " + escape_controls(offered) + ")"));
}

json to_json(const Descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) {
    j["platform"] = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) j["platform"]["variant"] = d.platform->variant;
  }
  return j;
}

std::string serialize(const Manifest& m) {
  json layers = json::array();
  for (const auto& l : m.layers) layers.push_back(to_json(l));
  json j = {{"schemaVersion", 2}, {"mediaType", m.media_type}, {"config", to_json(m.config)}, {"layers", layers}};
  return json_text::dump(j);
}

std::vector<std::string> config_diff_ids(const json& config) {
  // An artifact (a signature, an SBOM) is stored as an image is, with a
  // configuration of its own kind.
  if (!config.is_object() || !config.contains("rootfs"))
    throw Error("not a container image: its configuration has no \"rootfs\" (an artifact, such as a signature?)");
  try {
    std::vector<std::string> ids = config.at("rootfs").at("diff_ids").get<std::vector<std::string>>();
    for (const auto& id : ids)
      if (!is_sha256_digest(id)) throw Error("unsupported diff_id " + quote(id));
    return ids;
  } catch (const json::exception& e) {
    throw Error(std::string("invalid image configuration: no rootfs.diff_ids: ") + e.what());
  }
}

}  // namespace crt::store::oci
