#include "token_server.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "process.hpp"

namespace crt::test {

namespace {

std::string b64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string b64url(const std::string& in) {
  std::string s = b64(in);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> query_of(const std::string& target) {
  std::map<std::string, std::string> q;
  size_t qm = target.find('?');
  if (qm == std::string::npos) return q;
  std::string rest = target.substr(qm + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t amp = rest.find('&', pos);
    std::string kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) q[kv.substr(0, eq)] = url_decode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return q;
}

std::string sign_rs256(const std::string& key_pem, const std::string& data) {
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) throw std::runtime_error("token server: bad key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return sig;
}

std::string cert_der(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (x == nullptr) throw std::runtime_error("token server: bad certificate");
  unsigned char* der = nullptr;
  int n = i2d_X509(x, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

}  // namespace

TokenServer::TokenServer(const std::string& key_pem_file, const std::string& cert_pem_file, std::string user,
                         std::string password, std::string issuer, std::string service)
    : key_pem_(read_file(key_pem_file)),
      cert_der_b64_(b64(cert_der(read_file(cert_pem_file)))),
      user_(std::move(user)),
      password_(std::move(password)),
      issuer_(std::move(issuer)),
      service_(std::move(service)),
      stub_(std::make_unique<HttpStub>([this](const HttpStub::Request& r) { return issue(r); })) {}

HttpStub::Response TokenServer::issue(const HttpStub::Request& req) const {
  auto auth = req.headers.find("authorization");
  if (auth == req.headers.end() || auth->second != "Basic " + b64(user_ + ":" + password_))
    return {401, {{"Content-Type", "application/json"}}, R"({"details":"invalid credentials"})", -1, {}};
  auto q = query_of(req.target);
  nlohmann::json access = nlohmann::json::array();
  // scope: repository:NAME:ACTIONS — only pull is granted.
  std::string scope = q["scope"];
  size_t a = scope.find(':'), b = scope.rfind(':');
  if (a != std::string::npos && b > a)
    access.push_back({{"type", scope.substr(0, a)}, {"name", scope.substr(a + 1, b - a - 1)}, {"actions", {"pull"}}});
  long now = static_cast<long>(std::time(nullptr));
  nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {cert_der_b64_}}};
  nlohmann::json claims = {{"iss", issuer_}, {"sub", user_}, {"aud", service_}, {"exp", now + 300},
                           {"nbf", now - 10}, {"iat", now}, {"jti", std::to_string(now) + "-crt"}, {"access", access}};
  std::string signing_input = b64url(header.dump()) + "." + b64url(claims.dump());
  std::string token = signing_input + "." + b64url(sign_rs256(key_pem_, signing_input));
  return {200, {{"Content-Type", "application/json"}}, nlohmann::json{{"token", token}}.dump(), -1, {}};
}

}  // namespace crt::test
