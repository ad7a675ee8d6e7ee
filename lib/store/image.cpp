#include "store/image.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json_text.hpp"

namespace crt::store {

using nlohmann::json;

namespace {

std::vector<std::string> string_list(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return {};
  return j[key].get<std::vector<std::string>>();
}

std::vector<std::string> object_keys(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || !j[key].is_object()) return out;
  for (const auto& [k, v] : j[key].items()) out.push_back(k);
  return out;
}

std::string string_or_empty(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return {};
  return j[key].get<std::string>();
}

}  // namespace

RunConfig parse_run_config(const json& image_config) {
  RunConfig r;
  auto text = [&](const char* key) {
    return image_config.contains(key) && image_config[key].is_string() ? image_config[key].get<std::string>() : "";
  };
  r.os = text("os");
  r.architecture = text("architecture");
  r.variant = text("variant");
  if (!image_config.contains("config") || image_config["config"].is_null()) return r;
  const json& c = image_config["config"];
  if (!c.is_object()) throw Error("invalid image configuration: \"config\" is not an object");
  // The error names the field: nlohmann's says only which type it found.
  auto field = [&](const char* key, auto read) {
    try {
      read(key);
    } catch (const json::exception& e) {
      std::string what = e.what();
      if (what.rfind("[json.exception.", 0) == 0 && what.find("] ") != std::string::npos)
        what = what.substr(what.find("] ") + 2);
      throw Error(std::string("invalid image configuration: config.") + key + ": " + what);
    }
  };
  field("Entrypoint", [&](const char* k) { r.entrypoint = string_list(c, k); });
  field("Cmd", [&](const char* k) { r.cmd = string_list(c, k); });
  field("Env", [&](const char* k) { r.env = string_list(c, k); });
  field("User", [&](const char* k) { r.user = string_or_empty(c, k); });
  field("WorkingDir", [&](const char* k) { r.working_dir = string_or_empty(c, k); });
  field("StopSignal", [&](const char* k) { r.stop_signal = string_or_empty(c, k); });
  field("Labels", [&](const char* k) {
    if (c.contains(k) && c[k].is_object()) r.labels = c[k].get<std::map<std::string, std::string>>();
  });
  r.exposed_ports = object_keys(c, "ExposedPorts");
  r.volumes = object_keys(c, "Volumes");
  return r;
}

std::string host_architecture() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  if (m == "armv7l") return "arm";
  return m;
}

std::optional<std::string> foreign_platform(const RunConfig& run) {
  if ((run.os.empty() || run.os == "linux") && (run.architecture.empty() || run.architecture == host_architecture()))
    return std::nullopt;
  std::string p = run.os.empty() ? "linux" : run.os;
  if (!run.architecture.empty()) p += "/" + run.architecture;
  return run.variant.empty() || run.architecture.empty() ? p : p + "/" + run.variant;
}

void check_utf8(const RunConfig& run) {
  auto check = [](const std::string& v, const std::string& what) {
    if (!json_text::is_utf8(v)) throw Error(what + " " + quote(v) + " is not valid UTF-8");
  };
  for (const auto& a : run.entrypoint) check(a, "argument");
  for (const auto& a : run.cmd) check(a, "argument");
  for (const auto& kv : run.env)
    if (!json_text::is_utf8(kv))
      throw Error("environment variable " + quote(kv.substr(0, kv.find('='))) + " is not valid UTF-8");
  check(run.user, "user");
  check(run.working_dir, "working directory");
  for (const auto& [k, v] : run.labels) check(k + "=" + v, "label");
  check(run.stop_signal, "stop signal");
  for (const auto& p : run.exposed_ports) check(p, "exposed port");
  for (const auto& v : run.volumes) check(v, "volume");
}

std::string env_name_problem(std::string_view name) {
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return "a variable name holds letters, digits and '_'";
  if (std::isdigit(static_cast<unsigned char>(name[0]))) return "a variable name cannot start with a digit";
  return {};
}

void check_env(const RunConfig& run) {
  // "=1" (or ""): a variable without a name, which no runtime sets (runc
  // refuses to start the container): an image no run could start.
  for (const auto& kv : run.env)
    if (kv.empty() || kv.front() == '=')
      throw Error("invalid image configuration: config.Env: " + quote(kv) + " names no variable");
}

std::vector<std::string> env_warnings(const RunConfig& run, const std::string& image) {
  std::vector<std::string> out;
  for (const auto& kv : run.env) {
    size_t eq = kv.find('=');
    std::string name = kv.substr(0, eq);
    if (name.empty()) continue;  // refused by parse_run_config()
    if (eq == std::string::npos)
      out.push_back("warning: " + image + " has " + quote(kv) + " in its Env, without '=' or a value: crt run " +
                    "leaves the variable out (unset), as docker does");
    else if (std::string why = env_name_problem(name); !why.empty())
      out.push_back("warning: " + image + " sets the environment variable " + quote(name) +
                    " (its Env), which systemd cannot give an app (" + why + "): crt run refuses the image");
  }
  return out;
}

json make_image_config(const RunConfig& run, const std::vector<std::string>& diff_ids,
                       const std::string& created) {
  json c = json::object();
  if (!run.entrypoint.empty()) c["Entrypoint"] = run.entrypoint;
  if (!run.cmd.empty()) c["Cmd"] = run.cmd;
  if (!run.env.empty()) c["Env"] = run.env;
  if (!run.user.empty()) c["User"] = run.user;
  if (!run.working_dir.empty()) c["WorkingDir"] = run.working_dir;
  if (!run.labels.empty()) c["Labels"] = run.labels;
  if (!run.stop_signal.empty()) c["StopSignal"] = run.stop_signal;
  for (const auto& port : run.exposed_ports) c["ExposedPorts"][port] = json::object();
  for (const auto& vol : run.volumes) c["Volumes"][vol] = json::object();
  json j;
  j["architecture"] = host_architecture();
  j["os"] = "linux";
  j["created"] = created;
  j["config"] = c;
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  return j;
}

bool Image::select_manifest(std::string_view digest) {
  auto other = std::find_if(other_manifests.begin(), other_manifests.end(),
                            [&](const ImageManifest& m) { return m.digest == digest; });
  if (other == other_manifests.end()) return false;
  std::swap(manifest, other->digest);
  std::swap(blobs, other->blobs);
  return true;
}

std::string Image::manifest_of(std::string_view ref) const {
  if (auto it = ref_manifests.find(std::string(ref)); it != ref_manifests.end()) return it->second;
  if (size_t at = ref.find('@'); at != std::string_view::npos) return std::string(ref.substr(at + 1));
  return manifest;
}

void Image::set_manifest_of(const std::string& ref, const std::string& digest) {
  ref_manifests.erase(ref);
  if (manifest_of(ref) != digest) ref_manifests[ref] = digest;
}

void Image::forget_unnamed() {
  std::erase_if(ref_manifests, [&](const auto& entry) {
    return std::find(names.begin(), names.end(), entry.first) == names.end() &&
           std::find(repo_digests.begin(), repo_digests.end(), entry.first) == repo_digests.end();
  });
  std::erase_if(other_manifests, [&](const ImageManifest& m) {
    auto gives_it = [&](const std::string& ref) { return manifest_of(ref) == m.digest; };
    return std::none_of(names.begin(), names.end(), gives_it) &&
           std::none_of(repo_digests.begin(), repo_digests.end(), gives_it);
  });
}

std::vector<std::string> Image::blob_digests() const {
  std::vector<std::string> out = {id};
  if (!manifest.empty()) out.push_back(manifest);
  for (const auto& b : blobs) out.push_back(b.digest);
  for (const auto& m : other_manifests) {
    out.push_back(m.digest);
    for (const auto& b : m.blobs) out.push_back(b.digest);
  }
  return out;
}

namespace {

json layer_blobs_json(const std::vector<LayerBlob>& blobs) {
  json out = json::array();
  for (const auto& b : blobs) out.push_back({{"digest", b.digest}, {"mediaType", b.media_type}, {"size", b.size}});
  return out;
}

std::vector<LayerBlob> layer_blobs_from_json(const json& j) {
  std::vector<LayerBlob> out;
  for (const auto& b : j)
    out.push_back(
        {b.at("digest").get<std::string>(), b.at("mediaType").get<std::string>(), b.at("size").get<int64_t>()});
  return out;
}

}  // namespace

void to_json(json& j, const Image& im) {
  j = json{{"id", im.id}, {"names", im.names}, {"layers", im.layers}, {"size", im.size}, {"created", im.created}};
  if (!im.manifest.empty()) {
    j["manifest"] = im.manifest;
    j["blobs"] = layer_blobs_json(im.blobs);
  }
  if (!im.other_manifests.empty()) {
    json others = json::array();
    for (const auto& m : im.other_manifests)
      others.push_back({{"digest", m.digest}, {"blobs", layer_blobs_json(m.blobs)}});
    j["other_manifests"] = others;
  }
  if (!im.repo_digests.empty()) j["repo_digests"] = im.repo_digests;
  if (!im.ref_manifests.empty()) j["ref_manifests"] = im.ref_manifests;
  if (!im.stage1_source.empty()) j["stage1_source"] = im.stage1_source;
}

void from_json(const json& j, Image& im) {
  j.at("id").get_to(im.id);
  j.at("names").get_to(im.names);
  j.at("layers").get_to(im.layers);
  j.at("size").get_to(im.size);
  j.at("created").get_to(im.created);
  im.manifest = j.value("manifest", "");
  im.blobs = j.contains("blobs") ? layer_blobs_from_json(j["blobs"]) : std::vector<LayerBlob>{};
  im.other_manifests.clear();
  if (j.contains("other_manifests"))
    for (const auto& m : j["other_manifests"])
      im.other_manifests.push_back({m.at("digest").get<std::string>(), layer_blobs_from_json(m.at("blobs"))});
  im.repo_digests = j.value("repo_digests", std::vector<std::string>{});
  im.ref_manifests = j.value("ref_manifests", std::map<std::string, std::string>{});
  im.stage1_source = j.value("stage1_source", "");
}

namespace {

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/' ||
         c == ':';
}

bool valid_tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

Reference parse_reference(std::string_view ref) {
  Reference r;
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.name = std::string(ref.substr(0, colon));
    r.tag = std::string(ref.substr(colon + 1));
  } else {
    r.name = std::string(ref);
    r.tag = "latest";
  }
  auto bad = [&](const std::string& why) { return Error("invalid image name " + quote(ref) + ": " + why); };
  if (r.name.empty()) throw bad("the name is empty");
  if (r.name.size() > 255) throw bad("the name is longer than 255 characters");
  // What an image ID would be read as, never a name (Store::find).
  if (r.name == "sha256") throw bad("'sha256:' begins an image ID");
  if (r.name.size() == 64 && r.name.find_first_not_of("0123456789abcdef") == std::string::npos)
    throw bad("64 hexadecimal digits are an image ID");
  if (!((r.name[0] >= 'a' && r.name[0] <= 'z') || (r.name[0] >= '0' && r.name[0] <= '9')))
    throw bad("it must start with a lowercase letter or digit");
  for (char c : r.name)
    if (!valid_name_char(c)) throw bad("only lowercase letters, digits, '.', '_', '-', '/' and ':' are allowed");
  // As OCI's references have it: [HOST[:PORT]/]PART[/PART…], each PART
  // starting and ending with a letter or digit.
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t end = r.name.find('/', start);
    parts.push_back(std::string_view(r.name).substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view part = parts[i];
    if (part.empty()) throw bad("a '/' with nothing between it and the next, or at the end");
    // Only a registry's port: HOST:PORT/…
    std::optional<HostPort> host_port = split_host_port(part);
    if (!host_port || (!host_port->port.empty() && (i != 0 || parts.size() == 1)))
      throw bad("a ':' goes before the tag, or between a registry's host and port (host:5000/name)");
    if (!valid_name_part(host_port->host))
      throw bad("each part between '/' is letters and digits joined by single '.', '_', '__' or dashes");
  }
  if (r.tag.empty() || r.tag.size() > 128) throw bad("the tag must be 1 to 128 characters");
  if (r.tag[0] == '.' || r.tag[0] == '-') throw bad("the tag must start with a letter, a digit or '_'");
  for (char c : r.tag)
    if (!valid_tag_char(c)) throw bad("the tag may hold only letters, digits, '.', '_' and '-'");
  return r;
}

bool valid_name_part(std::string_view part) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (part.empty() || !alnum(part.front()) || !alnum(part.back())) return false;
  for (size_t i = 0; i < part.size();) {
    if (alnum(part[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < part.size() && !alnum(part[end])) ++end;
    std::string_view run = part.substr(i, end - i);
    if (run != "." && run != "_" && run != "__" && run.find_first_not_of('-') != std::string_view::npos) return false;
    i = end;
  }
  return true;
}

std::optional<HostPort> split_host_port(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return HostPort{s, {}};
  std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return HostPort{s.substr(0, colon), port};
}

void refuse_stage1_name(const Reference& ref, std::string_view where) {
  if (ref.name != kStage1Name) return;
  throw Error(std::string(where) + " " + quote(ref.str()) + ", a name crt keeps for its stage1 images (the systemd " +
              "every pod boots, outside the apps' sandboxes): nothing was imported; give the image another name");
}

std::optional<Reference> try_parse_reference(std::string_view ref) {
  try {
    return parse_reference(ref);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string Image::name_for(std::string_view ref) const {
  if (ref.rfind("sha256:", 0) != 0 && ref.find('@') == std::string_view::npos)
    if (auto r = try_parse_reference(ref); r && std::find(names.begin(), names.end(), r->str()) != names.end())
      return r->str();
  return names.empty() ? std::string(ref) : names.front();
}

std::string base_name(std::string_view ref) {
  std::string_view s = ref;
  if (size_t at = s.find('@'); at != std::string_view::npos) s = s.substr(0, at);
  size_t slash = s.rfind('/');
  if (slash != std::string_view::npos) s = s.substr(slash + 1);
  if (size_t colon = s.find(':'); colon != std::string_view::npos) s = s.substr(0, colon);
  return std::string(s);
}

}  // namespace crt::store
