#include "unit/unit_file.hpp"

#include <utility>

namespace crt::unit {

Value& Value::operator+=(const Value& other) {
  for (const auto& p : other.parts_) {
    if (!parts_.empty() && std::holds_alternative<std::string>(parts_.back()) &&
        std::holds_alternative<std::string>(p)) {
      std::get<std::string>(parts_.back()) += std::get<std::string>(p);
    } else {
      parts_.push_back(p);
    }
  }
  return *this;
}

Section& Section::set(std::string key, Value v) {
  entries.push_back({std::move(key), std::move(v)});
  return *this;
}

Section& Section::set_words(std::string key, WordStyle style, std::vector<Value> words) {
  entries.push_back({std::move(key), WordList{style, std::move(words)}});
  return *this;
}

Section& Section::set_exec(std::string key, ExecCommand cmd) {
  entries.push_back({std::move(key), std::move(cmd)});
  return *this;
}

Section& UnitFile::section(std::string_view name) {
  for (auto& s : sections)
    if (s.name == name) return s;
  sections.push_back({std::string(name), {}});
  return sections.back();
}

}  // namespace crt::unit
