#include "common/libcrypto.hpp"

namespace crt {

const LibCrypto& libcrypto() {
  static const LibCrypto table = [] {
    LateLibrary lib("libcrypto.so.3", "encode and decode base64 for registry credentials", "libssl3");
    LibCrypto api;
    CRT_LIBCRYPTO_FUNCTIONS(CRT_LATE_RESOLVE)
    return api;
  }();
  return table;
}

}  // namespace crt
