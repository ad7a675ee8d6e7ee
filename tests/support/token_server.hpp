#pragma once

#include <memory>
#include <string>
#include <vector>

#include "http_stub.hpp"

namespace crt::test {

/// A registry token server (the realm of a Bearer challenge), as the
/// distribution spec describes one: it checks Basic credentials and answers
/// with a JWT signed (RS256) by `key`, carrying `cert` in its x5c header, for
/// the scope asked, with pull access only. docker-registry checks the token
/// against `cert` as its rootcertbundle.
class TokenServer {
 public:
  TokenServer(const std::string& key_pem_file, const std::string& cert_pem_file, std::string user, std::string password,
              std::string issuer, std::string service);
  [[nodiscard]] std::string realm() const { return stub_->url() + "/token"; }
  [[nodiscard]] std::vector<HttpStub::Request> requests() const { return stub_->requests(); }

 private:
  HttpStub::Response issue(const HttpStub::Request& req) const;

  std::string key_pem_;
  std::string cert_der_b64_;
  std::string user_, password_, issuer_, service_;
  std::unique_ptr<HttpStub> stub_;
};

}  // namespace crt::test
