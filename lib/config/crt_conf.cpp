#include "config/crt_conf.hpp"

#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"

namespace crt::config {

namespace {

/// What crt.conf's lines and their parts are trimmed of.
constexpr std::string_view kConfBlanks = " \t\r";
/// What separates the names of a list of registries.
constexpr std::string_view kListSeparators = " \t,";

}  // namespace

CrtConfig parse_config(std::string_view text, const std::string& source) {
  CrtConfig c;
  std::istringstream in{std::string(text)};
  std::string line;
  std::string section;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string where = source + ":" + std::to_string(n);
    std::string t = trim(line, kConfBlanks);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[') {
      if (t.back() != ']') throw Error(where + ": expected [section]");
      section = trim(std::string_view(t).substr(1, t.size() - 2), kConfBlanks);
      if (section != "registries") throw Error(where + ": unknown section " + quote(section));
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) throw Error(where + ": expected KEY = VALUE");
    std::string key = trim(std::string_view(t).substr(0, eq), kConfBlanks);
    std::string value = trim(std::string_view(t).substr(eq + 1), kConfBlanks);
    if (section.empty()) throw Error(where + ": " + quote(key) + " is outside any section");
    if (key == "default")
      c.default_registries = words(value, kListSeparators);
    else if (key == "insecure")
      c.insecure_registries = words(value, kListSeparators);
    else if (key == "ca-file")
      c.ca_file = value;
    else
      throw Error(where + ": unknown key " + quote(key) + " in [" + section + "]");
  }
  return c;
}

CrtConfig load_config(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  return parse_config(fs::read_file(path), path.string());
}

}  // namespace crt::config
