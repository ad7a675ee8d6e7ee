#include "store/digest.hpp"

#include <gcrypt.h>

#include <mutex>

#include "common/error.hpp"

namespace crt::store {

namespace {

/// libgcrypt, initialized once. Debian's libsystemd links it, so it is in
/// every crt process already: a digest costs no library load (OpenSSL's
/// libcrypto took about 11 ms of each crt run here to load and set up).
void init_gcrypt() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (gcry_check_version(GCRYPT_VERSION) == nullptr)
      throw Error(std::string("libgcrypt is older than the ") + GCRYPT_VERSION + " crt was built with");
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);  // digests of public data
  });
}

}  // namespace

struct Sha256::Ctx {
  gcry_md_hd_t md = nullptr;
  ~Ctx() {
    if (md != nullptr) gcry_md_close(md);
  }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  init_gcrypt();
  if (gcry_md_open(&ctx_->md, GCRY_MD_SHA256, 0) != 0) throw Error("initializing SHA-256");
}

Sha256::~Sha256() = default;

void Sha256::reset() { gcry_md_reset(ctx_->md); }

void Sha256::update(const void* data, size_t size) { gcry_md_write(ctx_->md, data, size); }

std::string Sha256::hex() {
  const unsigned char* out = gcry_md_read(ctx_->md, GCRY_MD_SHA256);
  if (out == nullptr) throw Error("computing SHA-256");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0, len = gcry_md_get_algo_dlen(GCRY_MD_SHA256); i < len; ++i) {
    s += kHex[out[i] >> 4];
    s += kHex[out[i] & 0xf];
  }
  return s;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data);
  return "sha256:" + h.hex();
}

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_sha256_digest(std::string_view s) {
  return s.size() == 71 && s.substr(0, 7) == "sha256:" && is_lower_hex(s.substr(7));
}

std::string digest_hex(std::string_view digest) {
  if (!is_sha256_digest(digest)) throw Error("invalid digest " + quote(digest));
  return std::string(digest.substr(7));
}

}  // namespace crt::store
