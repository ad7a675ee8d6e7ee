#include "registry.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "process.hpp"

namespace crt::test {

namespace stdfs = std::filesystem;

namespace {

void must(const std::vector<std::string>& argv) {
  Result r = run(argv, {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = false});
  if (r.status != 0) throw std::runtime_error(argv[0] + " failed: " + r.err + r.out);
}

bool installed(const std::string& prog) {
  for (const char* d : {"/usr/bin/", "/usr/sbin/", "/bin/"})
    if (::access((d + prog).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string missing_registry_tools() {
  std::string missing;
  for (const char* p : {"docker-registry", "skopeo", "openssl", "htpasswd"})
    if (!installed(p)) missing += std::string(missing.empty() ? "" : ", ") + p;
  return missing;
}

TestPki::TestPki(const std::string& dir) {
  stdfs::create_directories(dir);
  ca_cert = dir + "/ca.crt";
  std::string ca_key = dir + "/ca.key";
  server_cert = dir + "/server.crt";
  server_key = dir + "/server.key";
  token_cert = dir + "/token.crt";
  token_key = dir + "/token.key";
  std::string ec = "ec";
  must({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
        ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=crt test CA"});
  must({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", server_key,
        "-out", dir + "/server.csr", "-subj", "/CN=127.0.0.1"});
  std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
  must({"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", server_cert, "-days", "2", "-extfile", dir + "/san.ext"});
  must({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", token_key, "-out", token_cert, "-days",
        "2", "-subj", "/CN=crt test token issuer"});
}

LocalRegistry::LocalRegistry(const std::string& dir, const RegistryConfig& c)
    : dir_(dir), storage_(c.storage.empty() ? dir + "/storage" : c.storage), log_(dir + "/registry.log") {
  stdfs::create_directories(dir_);
  stdfs::create_directories(storage_);
  // free_port() only finds a port that was free: another process may take
  // it before the registry binds it. Then it is tried again on another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    size_t from = log().size();
    if (start(c, from)) return;
    if (log().find("address already in use", from) == std::string::npos) break;
  }
  throw std::runtime_error("docker-registry did not start: " + log());
}

bool LocalRegistry::start(const RegistryConfig& c, size_t log_from) {
  std::string y = "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n";
  y += "storage:\n  filesystem:\n    rootdirectory: " + storage_ + "\n  delete:\n    enabled: true\n";
  if (!c.redirect_base.empty())
    y += "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: " + c.redirect_base + "\n";
  y += "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
  if (!c.tls_cert.empty()) y += "  tls:\n    certificate: " + c.tls_cert + "\n    key: " + c.tls_key + "\n";
  if (!c.htpasswd.empty()) y += "auth:\n  htpasswd:\n    realm: crt-test\n    path: " + c.htpasswd + "\n";
  if (!c.token_realm.empty())
    y += "auth:\n  token:\n    realm: " + c.token_realm + "\n    service: " + c.token_service +
         "\n    issuer: " + c.token_issuer + "\n    rootcertbundle: " + c.token_cert + "\n";
  std::string conf = dir_ + "/config.yml";
  std::ofstream(conf) << y;
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execl("/usr/bin/docker-registry", "docker-registry", "serve", conf.c_str(), nullptr);
    _exit(127);
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // It says so once it has bound the port: connecting could reach another
  // listener on it.
  std::string listening = "listening on 127.0.0.1:" + std::to_string(port_);
  while (std::chrono::steady_clock::now() < until) {
    if (log().find(listening, log_from) != std::string::npos) return true;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return false;
}

LocalRegistry::~LocalRegistry() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string LocalRegistry::log() const { return read_file(log_); }

int LocalRegistry::requests_for(const std::string& path_part) const {
  // Access log lines: 127.0.0.1 - - [date] "GET /v2/… HTTP/1.1" 200 …
  // The registry writes a request's line after its response: read once the
  // log has not grown for 100 ms.
  std::string l = log();
  for (int i = 0, still = 0; i < 60 && still < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string now = log();
    still = now.size() == l.size() ? still + 1 : 0;
    l = std::move(now);
  }
  int n = 0;
  for (size_t pos = 0; (pos = l.find("\"GET /v2/", pos)) != std::string::npos; ++pos) {
    size_t end = l.find('"', pos + 1);
    if (l.substr(pos, end - pos).find(path_part) != std::string::npos) ++n;
  }
  return n;
}

void skopeo_copy(const std::string& src, const std::string& dest, const std::string& creds,
                 const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"skopeo", "--insecure-policy", "copy", "-q"};
  if (dest.rfind("docker://", 0) == 0) argv.push_back("--dest-tls-verify=false");
  if (!creds.empty()) argv.insert(argv.end(), {"--dest-creds", creds});
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {src, dest});
  must(argv);
}

}  // namespace crt::test
