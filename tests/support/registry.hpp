#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace crt::test {

/// Test certificates made with openssl: a CA and a server certificate for
/// 127.0.0.1 signed by it, and an RSA key with a self-signed certificate for
/// signing registry tokens.
struct TestPki {
  explicit TestPki(const std::string& dir);
  std::string ca_cert, server_cert, server_key, token_cert, token_key;
};

/// How a LocalRegistry runs.
struct RegistryConfig {
  std::string storage;  ///< shared by several instances when set; else its own
  std::string tls_cert, tls_key;
  std::string htpasswd;  ///< a file of `htpasswd -B` lines: Basic auth
  std::string token_realm, token_service, token_issuer, token_cert;  ///< Bearer auth
  /// Where blobs are fetched from instead, by a redirect to this URL and
  /// their path in `storage` (the "redirect" storage middleware).
  std::string redirect_base;
};

/// Debian's docker-registry on 127.0.0.1, on a port free at start, stopped
/// (and waited for) on destruction. Its log (with the access log) is kept.
class LocalRegistry {
 public:
  LocalRegistry(const std::string& dir, const RegistryConfig& config);
  ~LocalRegistry();
  LocalRegistry(const LocalRegistry&) = delete;
  LocalRegistry& operator=(const LocalRegistry&) = delete;

  [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& storage() const { return storage_; }
  /// The registry's log so far.
  [[nodiscard]] std::string log() const;
  /// How many requests the access log shows for `path_part` ("/blobs/sha256:…").
  [[nodiscard]] int requests_for(const std::string& path_part) const;

 private:
  /// Starts docker-registry on port_; false if it exited or did not listen
  /// within 30 s (then it is gone). Its log so far is `log_from` bytes long.
  bool start(const RegistryConfig& c, size_t log_from);
  std::string dir_;
  std::string storage_;
  std::string log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

/// Whether docker-registry, skopeo and openssl are installed (else the
/// registry tests skip, naming what is missing).
std::string missing_registry_tools();

/// skopeo copy SRC DEST with TLS verification off for the destination, and
/// `creds` (USER:PASS) when given. Throws with skopeo's output on failure.
void skopeo_copy(const std::string& src, const std::string& dest, const std::string& creds = "",
                 const std::vector<std::string>& extra = {});

/// A free TCP port on 127.0.0.1 (bound, then released).
int free_port();

}  // namespace crt::test
