#include "unit/escape.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "common/error.hpp"
#include "common/strings.hpp"

namespace crt::unit {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_escape(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string shown(const Value& v) {
  std::string s;
  for (const auto& p : v.parts()) {
    if (const auto* t = std::get_if<std::string>(&p))
      s += *t;
    else if (const auto* verbatim = std::get_if<Verbatim>(&p))
      s += verbatim->text;
    else
      s += std::string("%") + std::get<Specifier>(p).letter;
  }
  return s;
}

std::string specifier_text(const Specifier& s) {
  if (!((s.letter >= 'a' && s.letter <= 'z') || (s.letter >= 'A' && s.letter <= 'Z')))
    throw Error("invalid unit specifier '%" + std::string(1, s.letter) + "'");
  return std::string("%") + s.letter;
}

void check_utf8(const Value& v, const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) continue;
    size_t n = utf8_sequence_length(text, i);
    if (n == 0) throw Error("value " + quote(shown(v)) + " is not valid UTF-8");
    i += n - 1;
  }
}

}  // namespace

std::string escape_value(const Value& v) {
  std::string out;
  for (const auto& p : v.parts()) {
    if (const auto* spec = std::get_if<Specifier>(&p)) {
      out += specifier_text(*spec);
      continue;
    }
    bool verbatim = std::holds_alternative<Verbatim>(p);
    const std::string& text = verbatim ? std::get<Verbatim>(p).text : std::get<std::string>(p);
    check_utf8(v, text);
    for (char ch : text) {
      if (is_control(static_cast<unsigned char>(ch)))
        throw Error("value " + quote(shown(v)) + " contains a control character (such as a newline)");
      if (ch == '%' && !verbatim) out += '%';
      out += ch;
    }
  }
  if (!out.empty()) {
    if (out.front() == ' ' || out.back() == ' ')
      throw Error("value " + quote(shown(v)) + " has leading or trailing whitespace");
    if (out.back() == '\\') throw Error("value " + quote(shown(v)) + " ends with a backslash");
  }
  return out;
}

std::string escape_word(const Value& v, WordStyle style, bool exec) {
  std::string out = "\"";
  for (const auto& p : v.parts()) {
    if (const auto* spec = std::get_if<Specifier>(&p)) {
      out += specifier_text(*spec);
      continue;
    }
    if (std::holds_alternative<Verbatim>(p)) throw Error("verbatim text cannot be a quoted word");
    const std::string& s = std::get<std::string>(p);
    if (s.find('\0') != std::string::npos) throw Error("value " + quote(shown(v)) + " contains a NUL byte");
    // Only command arguments may carry arbitrary bytes; systemd drops other
    // settings that are not UTF-8.
    if (!exec) check_utf8(v, s);
    for (size_t i = 0; i < s.size(); ++i) {
      auto c = static_cast<unsigned char>(s[i]);
      switch (c) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '%': out += "%%"; continue;
        case '$':
          out += exec ? "$$" : "$";
          continue;
        default: break;
      }
      if (style == WordStyle::kQuoted) {
        if (is_control(c) || c == 0)
          throw Error("value " + quote(shown(v)) + " contains a control character (such as a newline)");
        out += static_cast<char>(c);
        continue;
      }
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (is_control(c)) {
        append_hex_escape(out, c);
      } else if (c < 0x80) {
        out += static_cast<char>(c);
      } else if (size_t n = utf8_sequence_length(s, i); n > 0) {
        out.append(s, i, n);
        i += n - 1;
      } else {
        append_hex_escape(out, c);
      }
    }
  }
  out += '"';
  return out;
}

namespace {

bool is_valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
         c == '_' || c == '.';
}

}  // namespace

void validate_unit_name(std::string_view name) {
  static const char* const kTypes[] = {"service",   "mount", "swap", "socket", "target", "device",
                                       "automount", "timer", "path", "slice",  "scope"};
  auto bad = [&](const std::string& why) { return Error(quote(name) + " is not a unit name: " + why); };
  if (name.size() > 255) throw bad("it is longer than 255 characters");
  for (char c : name)
    if (!is_valid_name_char(c) && c != '-' && c != '\\' && c != '@')
      throw bad("only letters, digits and ':-_.\\@' are allowed");
  size_t dot = name.rfind('.');
  std::string_view type = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes))
    throw bad("it does not end in a unit type (.target, .service, .socket, .timer, .path, .mount …)");
  if (dot == 0 || name.front() == '@') throw bad("it has no name before its type");
}

std::string escape_unit_name(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '/')
      out += '-';
    else if ((i == 0 && c == '.') || !is_valid_name_char(c))
      append_hex_escape(out, static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out;
}

std::string escape_unit_path(std::string_view path) {
  for (size_t i = 0; i < path.size();) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (path.substr(i, j - i) == "..") throw Error("path " + quote(path) + " contains '..'");
    i = j + 1;
  }
  std::string simplified;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view comp = path.substr(i, j - i);
    if (!comp.empty() && comp != ".") {
      if (!simplified.empty()) simplified += '/';
      simplified += comp;
    }
    i = j;
  }
  if (simplified.empty()) return "-";
  return escape_unit_name(simplified);
}

}  // namespace crt::unit
