#include "config/crt_conf.hpp"

#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::config {

namespace {

std::string trim(std::string_view s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string_view::npos) return {};
  size_t b = s.find_last_not_of(" \t\r");
  return std::string(s.substr(a, b - a + 1));
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == ',') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

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
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[') {
      if (t.back() != ']') throw Error(where + ": expected [section]");
      section = trim(std::string_view(t).substr(1, t.size() - 2));
      if (section != "registries") throw Error(where + ": unknown section " + quote(section));
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) throw Error(where + ": expected KEY = VALUE");
    std::string key = trim(std::string_view(t).substr(0, eq));
    std::string value = trim(std::string_view(t).substr(eq + 1));
    if (section.empty()) throw Error(where + ": " + quote(key) + " is outside any section");
    if (key == "default")
      c.default_registries = words(value);
    else if (key == "insecure")
      c.insecure_registries = words(value);
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
