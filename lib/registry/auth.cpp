#include "registry/auth.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/ascii.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/libcrypto.hpp"
#include "registry/reference.hpp"

namespace crt::registry {

namespace stdfs = std::filesystem;

namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

class ChallengeParser {
 public:
  explicit ChallengeParser(std::string_view s) : s_(s) {}

  std::vector<Challenge> parse() {
    std::vector<Challenge> out;
    for (;;) {
      skip(" \t,");
      if (at_end()) break;
      Challenge c;
      c.scheme = ascii_lower(token());
      if (c.scheme.empty()) fail("expected an authentication scheme");
      skip(" \t");
      // auth-params: name=value pairs separated by commas, until the next scheme.
      while (!at_end()) {
        size_t save = pos_;
        skip(" \t,");
        std::string name = token();
        skip(" \t");
        if (name.empty() || at_end() || s_[pos_] != '=') {
          pos_ = save;
          break;
        }
        ++pos_;
        skip(" \t");
        c.params[ascii_lower(name)] = (!at_end() && s_[pos_] == '"') ? quoted() : token();
      }
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  [[nodiscard]] bool at_end() const { return pos_ >= s_.size(); }
  void skip(std::string_view chars) {
    while (!at_end() && chars.find(s_[pos_]) != std::string_view::npos) ++pos_;
  }
  std::string token() {
    size_t start = pos_;
    while (!at_end() && (is_token_char(s_[pos_]) || s_[pos_] == '/')) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::string quoted() {
    ++pos_;
    std::string out;
    while (!at_end() && s_[pos_] != '"') {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      out += s_[pos_++];
    }
    if (at_end()) fail("unterminated quoted string");
    ++pos_;
    return out;
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error("invalid WWW-Authenticate header " + quote(s_) + ": " + why);
  }

  std::string_view s_;
  size_t pos_ = 0;
};

/// $HOME, or the user's home in the password database: a system service
/// (crt@.service, a pod's unit) runs without HOME, and `docker login` as
/// root wrote /root/.docker/config.json all the same.
std::optional<stdfs::path> home_dir() {
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return stdfs::path(h);
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr && *pw->pw_dir != '\0')
    return stdfs::path(pw->pw_dir);
  return std::nullopt;
}

std::string strip_url(std::string key) {
  for (const char* p : {"https://", "http://"})
    if (key.rfind(p, 0) == 0) key.erase(0, std::string_view(p).size());
  if (key.size() >= 4 && key.compare(key.size() - 4, 4, "/v1/") == 0) key.erase(key.size() - 4);
  if (key.size() >= 4 && key.compare(key.size() - 4, 4, "/v2/") == 0) key.erase(key.size() - 4);
  while (!key.empty() && key.back() == '/') key.pop_back();
  // Host names are case-insensitive, and references' are lowercased.
  size_t host_end = std::min(key.find('/'), key.size());
  key = ascii_lower(key.substr(0, host_end)) + key.substr(host_end);
  // docker login keeps Docker Hub's credentials under its v1 index.
  if (is_docker_hub_alias(std::string_view(key).substr(0, host_end))) key.replace(0, host_end, "docker.io");
  return key;
}

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view header) { return ChallengeParser(header).parse(); }

std::string Credentials::owner() const {
  return "user " + quote(username) + " (from " + (file.empty() ? "--creds" : quote(file.string())) + ")";
}

Credentials parse_creds(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) throw Error("invalid credentials: expected USER:PASSWORD");
  return {std::string(s.substr(0, colon)), std::string(s.substr(colon + 1)), {}};
}

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = libcrypto().EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64_decode(std::string_view in) {
  std::string s(in);
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
  if (s.size() % 4 != 0) throw Error("invalid base64");
  std::string out(3 * s.size() / 4 + 1, '\0');
  int n = libcrypto().EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) throw Error("invalid base64");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  if (!s.empty() && s.back() == '=') --len;
  if (s.size() >= 2 && s[s.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::optional<Credentials> credentials_from_file(const stdfs::path& file, const std::string& registry,
                                                 const std::string& repository) {
  if (!stdfs::exists(file)) return std::nullopt;
  return with_context("reading credentials from " + quote(file.string()), [&]() -> std::optional<Credentials> {
    nlohmann::json j;
    try {
      j = json_text::parse(fs::read_file(file));
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("invalid JSON: ") + e.what());
    }
    if (!j.contains("auths") || !j["auths"].is_object()) return std::nullopt;
    std::string best_key;
    const nlohmann::json* best = nullptr;
    std::string full = registry + "/" + repository;
    for (const auto& [key, value] : j["auths"].items()) {
      std::string k = strip_url(key);
      bool matches = k == registry || (full.rfind(k + "/", 0) == 0 && k.rfind(registry + "/", 0) == 0) || k == full;
      if (matches && k.size() > best_key.size() && value.is_object() && value.contains("auth")) {
        best_key = k;
        best = &value;
      }
    }
    if (best == nullptr) return std::nullopt;
    Credentials c = parse_creds(base64_decode((*best)["auth"].get<std::string>()));
    c.file = file;
    return c;
  });
}

std::vector<stdfs::path> default_auth_files() {
  std::vector<stdfs::path> out;
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f != nullptr && *f != '\0') out.emplace_back(f);
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0')
    out.push_back(stdfs::path(x) / "containers" / "auth.json");
  else
    out.push_back(stdfs::path("/run/containers") / std::to_string(::getuid()) / "auth.json");
  if (std::optional<stdfs::path> h = home_dir()) {
    out.push_back(*h / ".config" / "containers" / "auth.json");
    out.push_back(*h / ".docker" / "config.json");
  }
  return out;
}

}  // namespace crt::registry
