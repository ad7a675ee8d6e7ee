#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace crt::config {

/// /etc/crt/crt.conf, an INI file:
///
///   [registries]
///   # Tried in order for a short name ("busybox"); none: short names that
///   # are not built-in images are an error, never guessed.
///   default = registry.example.org quay.io
///   # Reached over plain HTTP, or HTTPS without verifying its certificate.
///   insecure = 127.0.0.1:5000
///   # CA bundle trusted besides the system's, for every registry.
///   ca-file = /etc/crt/registry-ca.pem
struct CrtConfig {
  std::vector<std::string> default_registries;
  std::vector<std::string> insecure_registries;
  std::string ca_file;
};

inline constexpr const char* kDefaultConfigPath = "/etc/crt/crt.conf";
/// The store and pods of a crt run without --dir.
inline constexpr const char* kDefaultStoreDir = "/var/lib/crt";

/// Parses the text of a crt.conf; `source` names it in errors. Unknown
/// sections and keys are errors, so a typo never goes unnoticed.
CrtConfig parse_config(std::string_view text, const std::string& source);

/// Reads crt.conf at `path`; a missing file is an empty configuration.
CrtConfig load_config(const std::filesystem::path& path);

}  // namespace crt::config
