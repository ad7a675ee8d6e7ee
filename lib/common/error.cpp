#include "common/error.hpp"

#include <cerrno>
#include <cstring>

namespace crt {

Error Error::with_context(std::string_view context) const {
  return Error(std::string(context) + ": " + what());
}

SystemError::SystemError(int err, std::string_view what)
    : Error(std::string(what) + ": " + std::strerror(err)), errno_(err) {}

void throw_errno(std::string_view what) { throw SystemError(errno, what); }
void throw_errno(int err, std::string_view what) { throw SystemError(err, what); }

std::string escape_controls(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote(std::string_view s) { return "'" + escape_controls(s) + "'"; }

}  // namespace crt
