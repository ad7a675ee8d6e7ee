#include "store/digest.hpp"

#include "common/error.hpp"
#include "common/libcrypto.hpp"

namespace crt::store {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() {
    if (md != nullptr) libcrypto().EVP_MD_CTX_free(md);
  }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  const LibCrypto& c = libcrypto();
  ctx_->md = c.EVP_MD_CTX_new();
  if (ctx_->md == nullptr || c.EVP_DigestInit_ex(ctx_->md, c.EVP_sha256(), nullptr) != 1)
    throw Error("initializing SHA-256");
}

Sha256::~Sha256() = default;

void Sha256::reset() {
  const LibCrypto& c = libcrypto();
  if (c.EVP_DigestInit_ex(ctx_->md, c.EVP_sha256(), nullptr) != 1) throw Error("initializing SHA-256");
}

void Sha256::update(const void* data, size_t size) {
  if (libcrypto().EVP_DigestUpdate(ctx_->md, data, size) != 1) throw Error("computing SHA-256");
}

std::string Sha256::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (libcrypto().EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) throw Error("computing SHA-256");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
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

bool is_sha256_digest(std::string_view s) {
  if (s.size() != 71 || s.substr(0, 7) != "sha256:") return false;
  for (char c : s.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string digest_hex(std::string_view digest) {
  if (!is_sha256_digest(digest)) throw Error("invalid digest " + quote(digest));
  return std::string(digest.substr(7));
}

}  // namespace crt::store
