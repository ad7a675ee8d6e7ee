#pragma once

// libcrypto (OpenSSL), opened when crt first computes a digest or decodes
// base64 (common/late_library.hpp), not by every crt command at start: it
// is the costliest library crt links to load (about 3.5 ms of each start
// here), and `crt list`, `status`, `stop`, `logs`… need none of it.

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include "common/late_library.hpp"

static_assert(OPENSSL_VERSION_MAJOR == 3, "crt opens libcrypto.so.3: built against another OpenSSL");

#define CRT_LIBCRYPTO_FUNCTIONS(X) \
  X(EVP_DecodeBlock)               \
  X(EVP_DigestFinal_ex)            \
  X(EVP_DigestInit_ex)             \
  X(EVP_DigestUpdate)              \
  X(EVP_EncodeBlock)               \
  X(EVP_MD_CTX_free)               \
  X(EVP_MD_CTX_new)                \
  X(EVP_sha256)

namespace crt {

struct LibCrypto {
  CRT_LIBCRYPTO_FUNCTIONS(CRT_LATE_FIELD)
};

/// The table, libcrypto opened on the first call. Throws crt::Error.
const LibCrypto& libcrypto();

}  // namespace crt
