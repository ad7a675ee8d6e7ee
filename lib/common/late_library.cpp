#include "common/late_library.hpp"

#include <dlfcn.h>

#include "common/error.hpp"

namespace crt {

LateLibrary::LateLibrary(const char* soname, const char* purpose, const char* package) : soname_(soname) {
  handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* why = ::dlerror();
    throw Error(std::string("loading ") + soname + ", which crt needs to " + purpose + ": " +
                (why != nullptr ? why : "failed") + " (install Debian's " + package + ")");
  }
}

void* LateLibrary::symbol(const char* name) const {
  void* p = ::dlsym(handle_, name);
  if (p == nullptr) throw Error(soname_ + " has no " + name + ": it is not a version crt can use");
  return p;
}

}  // namespace crt
