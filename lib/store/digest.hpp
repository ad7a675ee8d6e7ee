#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace crt::store {

/// Incremental SHA-256 (OpenSSL).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Lowercase hex of the digest; the hasher is spent afterwards.
  std::string hex();
  /// Starts over, as if new.
  void reset();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

/// "sha256:<hex>" of `data`.
std::string sha256_digest(std::string_view data);

/// True when every character of `s` is a lowercase hex digit (0-9, a-f), as
/// in digests and image IDs; uppercase ones are not (a store never holds them).
bool is_lower_hex(std::string_view s);

/// True for "sha256:" followed by 64 lowercase hex digits.
bool is_sha256_digest(std::string_view s);

/// The hex part of "sha256:<hex>".
std::string digest_hex(std::string_view digest);

}  // namespace crt::store
