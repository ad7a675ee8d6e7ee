#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crt::registry {

/// One challenge of a WWW-Authenticate header: `Bearer realm="…",service="…"`.
struct Challenge {
  std::string scheme;  ///< lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  ///< names lowercase
};

/// Parses a WWW-Authenticate header value (RFC 7235: several challenges,
/// quoted strings with escapes, tokens). Throws crt::Error when malformed.
std::vector<Challenge> parse_www_authenticate(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  std::filesystem::path file;  ///< the auth file they came from; empty: --creds

  /// "user 'NAME' (from --creds)", or "(from 'FILE')": for messages.
  [[nodiscard]] std::string owner() const;
};

/// Parses "USER:PASSWORD" (--creds).
Credentials parse_creds(std::string_view s);

/// The credentials for `registry` in a containers-auth.json or docker
/// config.json file: {"auths": {"REGISTRY": {"auth": base64("user:pass")}}};
/// keys may also be URLs ("https://REGISTRY/v1/") or "REGISTRY/NAMESPACE"
/// (the most specific one that `repository` falls under wins).
std::optional<Credentials> credentials_from_file(const std::filesystem::path& file, const std::string& registry,
                                                 const std::string& repository);

/// The auth files to look in, in order: $REGISTRY_AUTH_FILE,
/// $XDG_RUNTIME_DIR/containers/auth.json (or /run/containers/UID/auth.json),
/// ~/.config/containers/auth.json, ~/.docker/config.json; ~ is $HOME, or
/// without one (a system service) the user's home in the password database.
std::vector<std::filesystem::path> default_auth_files();

std::string base64_encode(std::string_view in);
std::string base64_decode(std::string_view in);

}  // namespace crt::registry
