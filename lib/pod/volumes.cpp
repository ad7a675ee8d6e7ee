#include "pod/volumes.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "mount/app_plan.hpp"
#include "pod/resources.hpp"

namespace crt::pod {

using nlohmann::json;

namespace {

/// The KEY=VALUE items of `spec` from `from` on, split at its commas. A
/// value (a host path such as '/srv/a,b') holds a comma as `\,`, and a
/// backslash before one as `\\` (`/srv/a\\,readOnly=true`: the path
/// '/srv/a\'); `\\` elsewhere is one backslash too, any other backslash
/// itself.
std::vector<std::pair<std::string, std::string>> key_values(const std::string& spec, size_t from) {
  std::vector<std::string> items(1);
  for (size_t i = from; i < spec.size(); ++i) {
    char c = spec[i];
    if (c == '\\' && i + 1 < spec.size() && (spec[i + 1] == ',' || spec[i + 1] == '\\'))
      items.back() += spec[++i];
    else if (c == ',')
      items.emplace_back();
    else
      items.back() += c;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) throw Error("expected KEY=VALUE, not " + quote(item));
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "true") return true;
  if (v == "false") return false;
  throw Error(key + " must be true or false, not " + quote(v));
}

uint32_t parse_u32(const std::string& key, const std::string& v, int base = 10) {
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    throw Error(key + (base == 8 ? " must be an octal number" : " must be a number") + ", not " + quote(v));
  return n;
}

}  // namespace

void validate_volume_name(const std::string& name) {
  auto bad = [&](const char* why) { return Error("invalid volume name " + quote(name) + ": " + why); };
  if (name.empty() || name.size() > 63) throw bad("it must be 1 to 63 characters long");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      throw bad("only lowercase letters, digits and '-' are allowed");
  if (name.front() == '-') throw bad("it must start with a letter or digit");
}

Volume parse_volume(const std::string& spec) {
  return with_context("--volume " + quote(spec), [&] {
    Volume v;
    size_t comma = spec.find(',');
    v.name = spec.substr(0, comma);
    validate_volume_name(v.name);
    for (const auto& [k, val] : key_values(spec, comma == std::string::npos ? spec.size() : comma + 1)) {
      if (k == "kind") v.kind = val;
      else if (k == "source") v.source = val;
      else if (k == "readOnly") v.read_only = parse_bool(k, val);
      else if (k == "recursive") v.recursive = parse_bool(k, val);
      else if (k == "mode") v.mode = parse_u32(k, val, 8);
      else if (k == "uid") v.uid = parse_u32(k, val);
      else if (k == "gid") v.gid = parse_u32(k, val);
      else if (k == "size") v.size = parse_memory(val);
      else throw Error("unknown key " + quote(k));
    }
    if (v.kind != "host" && v.kind != "empty" && v.kind != "tmpfs")
      throw Error("kind must be host, empty or tmpfs");
    if (v.kind == "host") {
      if (v.source.empty() || v.source.front() != '/') throw Error("a host volume needs an absolute source=PATH");
      if (v.mode || v.uid || v.gid || v.size) throw Error("mode, uid, gid and size are for empty and tmpfs volumes");
    } else {
      if (!v.source.empty() || v.recursive) throw Error("source and recursive are for host volumes");
      if (v.size && v.kind != "tmpfs") throw Error("size is for tmpfs volumes");
    }
    return v;
  });
}

VolumeMount parse_mount(const std::string& spec) {
  return with_context("--mount " + quote(spec), [&] {
    VolumeMount m;
    for (const auto& [k, val] : key_values(spec, 0)) {
      if (k == "volume") m.volume = val;
      else if (k == "target") m.target = val;
      else throw Error("unknown key " + quote(k));
    }
    validate_volume_name(m.volume);
    if (m.target.empty() || m.target.front() != '/') throw Error("target must be an absolute path");
    for (char c : m.target)
      if (static_cast<unsigned char>(c) < 0x20) throw Error("target holds a control character");
    // "/data/", "/data/.", "//data": the directory they name, as an image's
    // VOLUME of it (else both would be mounted, the image's on top).
    m.target = fs::normal_path(m.target);
    if (std::string why = mount::volume_target_problem(m.target); !why.empty()) throw Error(why);
    return m;
  });
}

void to_json(json& j, const Volume& v) {
  j = json{{"name", v.name},           {"kind", v.kind},         {"source", v.source},
           {"read_only", v.read_only}, {"recursive", v.recursive}, {"copy_from", v.copy_from},
           {"copy_app", v.copy_app}};
  if (v.mode) j["mode"] = *v.mode;
  if (v.uid) j["uid"] = *v.uid;
  if (v.gid) j["gid"] = *v.gid;
  if (v.size) j["size"] = *v.size;
}

void from_json(const json& j, Volume& v) {
  j.at("name").get_to(v.name);
  j.at("kind").get_to(v.kind);
  v.source = j.value("source", "");
  v.read_only = j.value("read_only", false);
  v.recursive = j.value("recursive", false);
  v.copy_from = j.value("copy_from", "");
  v.copy_app = j.value("copy_app", "");
  if (j.contains("mode")) v.mode = j["mode"].get<uint32_t>();
  if (j.contains("uid")) v.uid = j["uid"].get<uint32_t>();
  if (j.contains("gid")) v.gid = j["gid"].get<uint32_t>();
  if (j.contains("size")) v.size = j["size"].get<uint64_t>();
}

void to_json(json& j, const VolumeMount& v) { j = json{{"volume", v.volume}, {"target", v.target}}; }

void from_json(const json& j, VolumeMount& v) {
  j.at("volume").get_to(v.volume);
  j.at("target").get_to(v.target);
}

}  // namespace crt::pod
