#pragma once

// libcrypto (OpenSSL), opened when crt first encodes or decodes base64
// (registry credentials; common/late_library.hpp), not by every crt command
// at start: it is the costliest library crt uses to load (about 9 ms here),
// and only talking to registries needs it. Digests use libgcrypt
// (store/digest.cpp), which libsystemd has loaded already.

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include "common/late_library.hpp"

static_assert(OPENSSL_VERSION_MAJOR == 3, "crt opens libcrypto.so.3: built against another OpenSSL");

#define CRT_LIBCRYPTO_FUNCTIONS(X) \
  X(EVP_DecodeBlock)               \
  X(EVP_EncodeBlock)

namespace crt {

struct LibCrypto {
  CRT_LIBCRYPTO_FUNCTIONS(CRT_LATE_FIELD)
};

/// The table, libcrypto opened on the first call. Throws crt::Error.
const LibCrypto& libcrypto();

}  // namespace crt
