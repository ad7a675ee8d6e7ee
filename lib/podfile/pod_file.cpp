#include "podfile/pod_file.hpp"

#include <filesystem>
#include <sstream>

#include "common/fs.hpp"
#include "common/strings.hpp"

namespace crt::podfile {

namespace {

/// What a pod file's lines and their parts are trimmed of.
constexpr std::string_view kBlanks = " \t";

bool valid_key(const std::string& k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

Section parse_header(const std::string& line, const std::string& path, int n) {
  std::string inner = trim(line.substr(1, line.size() - 2), kBlanks);
  Section s;
  s.line = n;
  size_t sp = inner.find_first_of(kBlanks);
  s.name = inner.substr(0, sp);
  if (sp != std::string::npos) s.app = trim(inner.substr(sp), kBlanks);
  bool known = s.name == "Pod" || s.name == "App" || s.name == "Unit" || s.name == "Service" || s.name == "Install";
  if (!known) throw PodFileError(path, n, "[" + inner + "]", "unknown section (Pod, App NAME, Unit, Service, Install)");
  if (s.name == "App" && s.app.empty()) throw PodFileError(path, n, "[App]", "an app section needs a name: [App NAME]");
  if (s.name != "App" && !s.app.empty()) throw PodFileError(path, n, "[" + inner + "]", "only [App NAME] takes a name");
  return s;
}

}  // namespace

PodFileError::PodFileError(const std::string& path, int line, const std::string& key, const std::string& why)
    : Error(path + (line > 0 ? ":" + std::to_string(line) : "") + ": " + (key.empty() ? "" : key + ": ") + why) {}

PodFile parse(const std::string& text, const std::string& path) {
  PodFile f;
  f.path = path;
  std::string base = std::filesystem::path(path).filename().string();
  f.name = base.size() > 4 && base.compare(base.size() - 4, 4, ".pod") == 0 ? base.substr(0, base.size() - 4) : base;
  std::istringstream in(text);
  std::string raw;
  int n = 0;
  while (std::getline(in, raw)) {
    ++n;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (n == 1 && raw.rfind("\xEF\xBB\xBF", 0) == 0) raw.erase(0, 3);  // a UTF-8 byte order mark
    std::string line = trim(raw, kBlanks);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') throw PodFileError(path, n, "", "a section header must end with ']'");
      Section header = parse_header(line, path, n);
      // Two [App NAME] of one name are said where the apps are read.
      for (const auto& other : f.sections)
        if (header.name == "Pod" && other.name == "Pod")
          throw PodFileError(
              path, n, "[Pod]",
              "a second [Pod] section (the first is at line " + std::to_string(other.line) + "): a pod file has one");
      f.sections.push_back(std::move(header));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) throw PodFileError(path, n, "", "expected Key=Value or [Section]");
    Setting s{trim(line.substr(0, eq), kBlanks), trim(line.substr(eq + 1), kBlanks), n};
    if (!valid_key(s.key)) throw PodFileError(path, n, s.key, "not a valid key name");
    if (f.sections.empty()) throw PodFileError(path, n, s.key, "a setting outside any section");
    // [Pod] and [App] values are literal (crt-generator quotes them); the
    // other sections are systemd's, where the backslash would continue the line.
    const std::string& section = f.sections.back().name;
    if (!s.value.empty() && s.value.back() == '\\' && section != "Pod" && section != "App")
      throw PodFileError(path, n, s.key,
                         "line continuations (a trailing backslash) are not supported in [" + section + "]");
    f.sections.back().settings.push_back(std::move(s));
  }
  return f;
}

PodFile read(const std::string& path) {
  std::string text = with_context("reading pod file " + quote(path), [&] { return fs::read_file(path); });
  return parse(text, path);
}

}  // namespace crt::podfile
