#pragma once

#include <string>
#include <vector>

#include "common/error.hpp"

namespace crt::podfile {

/// One Key=Value line of a pod file.
struct Setting {
  std::string key;
  std::string value;
  int line = 0;
};

/// A [Section] or [App NAME] and its settings, in file order.
struct Section {
  std::string name;  ///< "Pod", "App", "Unit", "Service", "Install"
  std::string app;   ///< NAME of [App NAME]
  int line = 0;
  std::vector<Setting> settings;
};

/// A pod file (crt.pod(5)) as written: sections and settings, not yet
/// checked against what each key means.
struct PodFile {
  std::string path;
  std::string name;  ///< the file name without ".pod"
  std::vector<Section> sections;
};

/// What is wrong in a pod file, said once: "FILE:LINE: KEY: why".
class PodFileError : public Error {
 public:
  PodFileError(const std::string& path, int line, const std::string& key, const std::string& why);
};

/// Parses the INI syntax of a pod file: comments (# ;), [Section] headers,
/// Key=Value lines. Throws PodFileError.
PodFile parse(const std::string& text, const std::string& path);

/// Reads and parses a pod file.
PodFile read(const std::string& path);

}  // namespace crt::podfile
