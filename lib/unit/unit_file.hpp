#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace crt::unit {

/// An intended systemd specifier such as %i; every other '%' in a value is
/// literal and gets escaped.
struct Specifier {
  char letter;
};

/// Text for a setting systemd does not expand specifiers in (CPUQuota=20%):
/// rendered as it is, so its '%' stays single.
struct Verbatim {
  std::string text;
};

/// A raw value: literal text and explicit specifiers, escaped only on render.
class Value {
 public:
  Value() = default;
  Value(std::string text) { parts_.emplace_back(std::move(text)); }  // NOLINT: implicit by design
  Value(const char* text) : Value(std::string(text)) {}              // NOLINT
  Value(Specifier s) { parts_.emplace_back(s); }                     // NOLINT
  Value(Verbatim v) { parts_.emplace_back(std::move(v)); }           // NOLINT

  Value& operator+=(const Value& other);
  friend Value operator+(Value a, const Value& b) { return a += b; }

  using Part = std::variant<std::string, Specifier, Verbatim>;
  [[nodiscard]] const std::vector<Part>& parts() const { return parts_; }

 private:
  std::vector<Part> parts_;
};

/// A command line for Exec*= settings. `argv[0]` is what the process sees;
/// `path` the binary run (rendered with the '@' prefix when they differ).
struct ExecCommand {
  std::string prefix;  ///< systemd prefix characters: "+", "-", "!" …
  Value path;
  std::vector<Value> argv;
};

/// How a list of words is quoted: the settings that C-unescape their words
/// (Exec*=, Environment=) can carry any byte; plain quoted lists cannot carry
/// control characters.
enum class WordStyle { kCEscaped, kQuoted };

struct WordList {
  WordStyle style;
  std::vector<Value> words;
};

using EntryValue = std::variant<Value, WordList, ExecCommand>;

struct Entry {
  std::string key;
  EntryValue value;
};

struct Section {
  std::string name;
  std::vector<Entry> entries;

  /// Adds Key=value (a setting may be added several times).
  Section& set(std::string key, Value v);
  Section& set_words(std::string key, WordStyle style, std::vector<Value> words);
  Section& set_exec(std::string key, ExecCommand cmd);
};

/// A unit file as sections in order.
struct UnitFile {
  std::vector<std::string> comments;  ///< header comment lines, without '#'
  std::vector<Section> sections;

  /// Returns the section `name`, appending it if absent.
  Section& section(std::string_view name);
};

}  // namespace crt::unit
