#include "unit/render.hpp"

#include "common/error.hpp"
#include "common/fs.hpp"
#include "unit/escape.hpp"

namespace crt::unit {

namespace {

bool is_exec_key(const std::string& key) { return key.rfind("Exec", 0) == 0; }

std::string render_words(const WordList& w, bool exec) {
  std::string out;
  for (const auto& word : w.words) {
    if (!out.empty()) out += ' ';
    out += escape_word(word, w.style, exec);
  }
  return out;
}

/// systemd refuses binary paths with quotes, backslashes or control characters.
void check_exec_path(const Value& path) {
  for (const auto& part : path.parts()) {
    const auto* text = std::get_if<std::string>(&part);
    if (text == nullptr) continue;
    for (char ch : *text) {
      auto c = static_cast<unsigned char>(ch);
      if (ch == '"' || ch == '\'' || ch == '\\' || c < 0x20 || c == 0x7f)
        throw Error("systemd cannot run a binary whose path " + quote(*text) +
                    " holds quotes, backslashes or control characters");
    }
  }
}

std::string render_exec(const ExecCommand& c) {
  if (c.argv.empty()) throw Error("a command line needs at least one argument");
  check_exec_path(c.path);
  std::string out = c.prefix + "@";
  // systemd expands $VAR in the arguments only, never in the binary's path.
  out += escape_word(c.path, WordStyle::kCEscaped, false);
  for (const auto& a : c.argv) out += " " + escape_word(a, WordStyle::kCEscaped, true);
  return out;
}

std::string render_entry(const Entry& e) {
  return with_context("rendering " + e.key + "=", [&] {
    std::string v;
    if (const auto* val = std::get_if<Value>(&e.value))
      v = escape_value(*val);
    else if (const auto* words = std::get_if<WordList>(&e.value))
      v = render_words(*words, is_exec_key(e.key));
    else
      v = render_exec(std::get<ExecCommand>(e.value));
    // systemd refuses the whole unit over a longer line ("No buffer space
    // available"), after the pod has started.
    constexpr size_t kLongestLine = 1024 * 1024 - 1;
    if (e.key.size() + 1 + v.size() > kLongestLine)
      throw Error("it would be " + std::to_string(e.key.size() + 1 + v.size()) +
                  " bytes long; systemd reads unit lines of less than 1 MiB");
    return e.key + "=" + v + "\n";
  });
}

}  // namespace

std::string render(const UnitFile& u) {
  std::string out;
  for (const auto& c : u.comments) {
    if (c.find_first_of("\n\r") != std::string::npos) throw Error("a unit comment cannot span lines");
    out += c.empty() ? "#\n" : "# " + c + "\n";
  }
  for (const auto& s : u.sections) {
    if (!out.empty()) out += '\n';
    out += "[" + s.name + "]\n";
    for (const auto& e : s.entries) out += render_entry(e);
  }
  return out;
}

void write(const UnitFile& u, const std::filesystem::path& path) {
  fs::write_file_atomic(path, render(u), 0644, fs::Durability::kCached);
}

}  // namespace crt::unit
