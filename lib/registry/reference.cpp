#include "registry/reference.hpp"

#include <cctype>

#include "common/ascii.hpp"
#include "common/error.hpp"
#include "store/digest.hpp"

namespace crt::registry {

std::string RemoteReference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::optional<store::Reference> RemoteReference::store_name() const {
  // The digest decides the content, whatever the tag names today: under
  // the tag's name, NAME:v2@<v1's digest> would store v1 as v2 (Docker
  // too ignores the tag then).
  if (tag.empty() || !digest.empty()) return std::nullopt;
  return store::Reference{name(), tag};
}

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (i > 0 && (c == '.' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

/// HOST[:PORT], lowercase, split as the store's names split it; stricter
/// than they are, as DNS has host names: dot-separated labels of letters,
/// digits and '-' that start and end with a letter or digit, and a port
/// of at most 5 digits.
bool valid_host(std::string_view host_port) {
  std::optional<store::HostPort> split = store::split_host_port(host_port);
  if (!split || split->port.size() > 5) return false;
  std::string_view h = split->host;
  for (size_t start = 0;;) {
    size_t end = h.find('.', start);
    std::string_view label = h.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (label.empty() || !is_lower_alnum(label.front()) || !is_lower_alnum(label.back())) return false;
    for (char c : label)
      if (!is_lower_alnum(c) && c != '-') return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

/// Splits "path[:tag][@digest]" into the reference's parts.
void split_tail(std::string_view full, std::string_view path_and_tag, RemoteReference& r) {
  auto bad = [&](const std::string& why) { return Error("invalid image reference " + quote(full) + ": " + why); };
  if (size_t at = path_and_tag.find('@'); at != std::string_view::npos) {
    r.digest = std::string(path_and_tag.substr(at + 1));
    if (!store::is_sha256_digest(r.digest)) throw bad("the digest must be sha256: and 64 lowercase hex digits");
    path_and_tag = path_and_tag.substr(0, at);
  }
  size_t slash = path_and_tag.rfind('/');
  size_t colon = path_and_tag.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(path_and_tag.substr(colon + 1));
    path_and_tag = path_and_tag.substr(0, colon);
    if (!valid_tag(r.tag)) throw bad("invalid tag " + quote(r.tag));
  } else if (r.digest.empty()) {
    r.tag = "latest";
  }
  r.repository = std::string(path_and_tag);
  size_t start = 0;
  while (start <= r.repository.size()) {
    size_t end = r.repository.find('/', start);
    std::string_view comp = std::string_view(r.repository).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!store::valid_name_part(comp))
      throw bad("the repository " + quote(r.repository) + " may hold only lowercase letters, digits and separators");
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

}  // namespace

std::optional<RemoteReference> parse_remote_reference(std::string_view ref) {
  size_t slash = ref.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view first = ref.substr(0, slash);
  if (first.find('.') == std::string_view::npos && first.find(':') == std::string_view::npos && first != "localhost")
    return std::nullopt;
  // The store's names (and with them `crt run`, `crt image rm`) know no
  // IPv6 address: a pull under one would store what nothing finds again.
  if (first.front() == '[')
    throw Error("invalid image reference " + quote(ref) + ": a registry named by its IPv6 address (" + quote(first) +
                ") is not supported: give it a host name (/etc/hosts)");
  RemoteReference r;
  // Host names are case-insensitive; the store's names are lowercase.
  r.registry = ascii_lower(std::string(first));
  if (!valid_host(r.registry)) throw Error("invalid image reference " + quote(ref) + ": invalid registry " + quote(first));
  if (is_docker_hub_alias(r.registry)) r.registry = "docker.io";
  split_tail(ref, ref.substr(slash + 1), r);
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos) r.repository = "library/" + r.repository;
  return r;
}

std::vector<RemoteReference> qualify_short_name(std::string_view ref, const std::vector<std::string>& registries) {
  std::vector<RemoteReference> out;
  for (const auto& reg : registries) {
    auto r = parse_remote_reference(reg + "/" + std::string(ref));
    if (r) out.push_back(*r);
  }
  return out;
}

bool is_docker_hub_alias(std::string_view host) { return host == "index.docker.io" || host == "registry-1.docker.io"; }

std::string api_host(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

}  // namespace crt::registry
