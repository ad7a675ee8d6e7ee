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

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace crt
