#include "net/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

void check_plugin(const json& p, const std::string& source, size_t index) {
  if (!p.is_object()) throw Error(quote(source) + ": plugin " + std::to_string(index) + " is not a JSON object");
  if (!p.contains("type") || !p["type"].is_string() || p["type"].get<std::string>().empty())
    throw Error(quote(source) + ": plugin " + std::to_string(index) + " has no \"type\"");
  std::string type = p["type"];
  if (type.find('/') != std::string::npos || type == "." || type == "..")
    throw Error(quote(source) + ": plugin type " + quote(type) + " is not a plain file name");
}

std::array<int, 3> version_parts(const std::string& v) {
  std::array<int, 3> out{0, 1, 0};
  if (v.empty()) return out;
  out = {0, 0, 0};
  const char* p = v.data();
  const char* end = v.data() + v.size();
  for (int& part : out) {
    auto [next, ec] = std::from_chars(p, end, part);
    if (ec != std::errc()) break;
    p = next;
    if (p == end || *p != '.') break;
    ++p;
  }
  return out;
}

}  // namespace

int compare_versions(const std::string& a, const std::string& b) {
  auto x = version_parts(a), y = version_parts(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool has_capability(const json& plugin, const std::string& cap) {
  auto it = plugin.find("capabilities");
  if (it == plugin.end() || !it->is_object()) return false;
  auto c = it->find(cap);
  return c != it->end() && c->is_boolean() && c->get<bool>();
}

NetworkConfig builtin_default_network() {
  // Masquerading is crt's (masquerade()), in one iptables-restore rather
  // than ptp's eight iptables runs while the pod waits.
  json ptp = {{"type", "ptp"},
              {"ipMasq", false},
              {"ipam",
               {{"type", "host-local"},
                {"ranges", json::array({json::array({{{"subnet", "172.16.28.0/24"}}})})},
                {"routes", json::array({{{"dst", "0.0.0.0/0"}}})}}}};
  json portmap = {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}};
  return {kDefaultNetwork, "1.0.0", json::array({ptp, portmap}), kBuiltinSource};
}

bool crt_masquerades(const NetworkConfig& c) { return c.source == kBuiltinSource; }

NetworkConfig parse_network_config(const std::string& text, const std::string& source, bool is_list) {
  json j;
  try {
    j = json_text::parse(text);
  } catch (const json::exception& e) {
    throw Error(quote(source) + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(quote(source) + ": not a JSON object");
  NetworkConfig c;
  c.source = source;
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    throw Error(quote(source) + ": no network \"name\"");
  c.name = j["name"];
  if (j.contains("cniVersion")) {
    if (!j["cniVersion"].is_string()) throw Error(quote(source) + ": \"cniVersion\" is not a string");
    c.cni_version = j["cniVersion"];
  }
  if (is_list) {
    if (!j.contains("plugins") || !j["plugins"].is_array() || j["plugins"].empty())
      throw Error(quote(source) + ": a plugin list needs a non-empty \"plugins\" array");
    c.plugins = j["plugins"];
  } else {
    c.plugins = json::array({j});
  }
  for (size_t i = 0; i < c.plugins.size(); ++i) check_plugin(c.plugins[i], source, i);
  return c;
}

namespace {

/// The network a file that parse_network_config() refused names, if its
/// JSON says.
std::string name_in(const std::string& text) {
  try {
    json j = json_text::parse(text);
    if (j.is_object() && j.contains("name") && j["name"].is_string()) return j["name"];
  } catch (const json::exception&) {
  }
  return {};
}

}  // namespace

NetworkDirectory load_networks(const stdfs::path& dir) {
  std::vector<stdfs::path> files;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec)) {
    std::string ext = de.path().extension().string();
    if ((ext == ".conf" || ext == ".json" || ext == ".conflist") && de.is_regular_file(ec)) files.push_back(de.path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw Error("reading network configurations in " + quote(dir.string()) + ": " + ec.message());
  std::sort(files.begin(), files.end());
  NetworkDirectory out;
  out.dir = dir;
  auto named = [&out](const std::string& name) {
    return std::any_of(out.networks.begin(), out.networks.end(), [&](const auto& o) { return o.name == name; }) ||
           std::any_of(out.broken.begin(), out.broken.end(), [&](const auto& b) { return b.name == name; });
  };
  for (const auto& f : files) {
    std::string text;
    try {
      text = fs::read_file(f);
      NetworkConfig c = parse_network_config(text, f.string(), f.extension() == ".conflist");
      if (!named(c.name)) out.networks.push_back(std::move(c));
    } catch (const Error& e) {
      std::string name = name_in(text);
      if (name.empty() || !named(name)) out.broken.push_back({f.string(), name, e.what()});
    }
  }
  auto def =
      std::find_if(out.networks.begin(), out.networks.end(), [](const auto& o) { return o.name == kDefaultNetwork; });
  if (def != out.networks.end()) {
    std::rotate(out.networks.begin(), def, def + 1);
  } else if (!named(kDefaultNetwork)) {
    out.networks.insert(out.networks.begin(), builtin_default_network());
  }
  return out;
}

std::vector<NetworkConfig> select_networks(const pod::NetSpec& spec, const NetworkDirectory& available,
                                           const std::function<void(const std::string&)>& warn) {
  if (!spec.cni()) return {};
  auto broken_of = [&available](const std::string& name) {
    return std::find_if(available.broken.begin(), available.broken.end(),
                        [&](const auto& b) { return !b.name.empty() && b.name == name; });
  };
  std::vector<NetworkConfig> out;
  if (spec.all) {
    for (const auto& b : available.broken)
      if (!b.name.empty()) throw Error("network " + quote(b.name) + " cannot be used: " + b.error);
    out = available.networks;
  } else {
    for (const auto& sel : spec.networks) {
      if (auto b = broken_of(sel.name); b != available.broken.end())
        throw Error("network " + quote(sel.name) + " cannot be used: " + b->error);
      auto it = std::find_if(available.networks.begin(), available.networks.end(),
                             [&](const auto& c) { return c.name == sel.name; });
      if (it == available.networks.end()) {
        std::string msg = "no network " + quote(sel.name) + " is defined in " + quote(available.dir.string());
        for (const auto& b : available.broken)
          if (b.name.empty()) msg += " (" + b.error + ")";
        throw Error(msg);
      }
      out.push_back(*it);
    }
  }
  if (warn)
    for (const auto& b : available.broken) warn("warning: passed over a network file: " + b.error);
  return out;
}

}  // namespace crt::net
