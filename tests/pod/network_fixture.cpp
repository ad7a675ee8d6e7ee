#include "network_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/fd.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "net/state.hpp"

namespace crt::test {

namespace stdfs = std::filesystem;
using std::chrono::milliseconds;

SocketAddress::SocketAddress(int family, int port, bool loopback) {
  if (family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    a->sin6_addr = loopback ? in6addr_loopback : in6addr_any;
    size = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    a->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    size = sizeof *a;
  }
}

int bind_error(int family, int port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  SocketAddress a(family, port, false);
  if (::bind(fd.get(), a.get(), a.size) < 0 || ::listen(fd.get(), 1) < 0) return errno;
  return 0;
}

UniqueFd listen_on_host(int family, int port, bool loopback) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int on = 1;
  if (fd && family == AF_INET6 && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) return {};
  SocketAddress a(family, port, loopback);
  if (!fd || ::bind(fd.get(), a.get(), a.size) < 0 || ::listen(fd.get(), 1) < 0) return {};
  return fd;
}

std::string http_get(const std::string& ip, int port, milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    timeval tv{2, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string req = "GET / HTTP/1.0\r\n\r\n", out;
      if (::write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
        char buf[4096];
        for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
      }
      ::close(s);
      if (!out.empty()) return out;
    } else {
      ::close(s);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return {};
}

void send_udp(const std::string& ip, int port, const std::string& data) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  ::sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(s);
}

UnremovableDir::UnremovableDir(const std::filesystem::path& dir) : busy_(dir / "busy") {
  std::error_code ec;
  stdfs::create_directories(busy_, ec);
  if (ec)
    error_ = "creating " + busy_.string() + ": " + ec.message();
  else if (::mount("busy", busy_.c_str(), "tmpfs", 0, nullptr) != 0)
    error_ = "mounting a tmpfs on " + busy_.string() + ": " + std::strerror(errno);
  else
    mounted_ = true;
}

UnremovableDir::~UnremovableDir() {
  if (mounted_) ::umount2(busy_.c_str(), MNT_DETACH);
}

std::string UnremovableDir::unmount() {
  if (!mounted_) return "not mounted";
  if (::umount2(busy_.c_str(), 0) != 0) return "unmounting " + busy_.string() + ": " + std::strerror(errno);
  mounted_ = false;
  return "";
}

void NetworkTest::TearDown() {
  std::error_code ec;
  if (dir_.empty()) return PodTest::TearDown();  // skipped
  for (const auto& file : stdfs::directory_iterator(config_dir() + "/net.d", ec)) {
    nlohmann::json conf;
    try {
      conf = json_text::parse(read_file(file.path().string()));
    } catch (const nlohmann::json::exception&) {
      continue;  // not a network file, or one broken on purpose
    }
    if (!conf.is_object()) continue;
    nlohmann::json plugins = conf.contains("plugins") ? conf["plugins"] : nlohmann::json::array({conf});
    if (!plugins.is_array()) continue;
    for (const auto& p : plugins) {
      // Only a bridge the file names: the plugin's default (cni0) may be the host's.
      if (!p.is_object() || p.value("type", "") != "bridge" || !p.contains("bridge")) continue;
      std::string bridge = p.value("bridge", "");
      if (!bridge.empty() && stdfs::exists("/sys/class/net/" + bridge)) run({"ip", "link", "delete", bridge});
    }
  }
  PodTest::TearDown();
}

std::vector<std::string> NetworkTest::with_config(std::vector<std::string> args) const {
  args.insert(args.begin(), "--local-config=" + config_dir());
  return args;
}

void NetworkTest::write_network(const std::string& file, const std::string& json) const {
  stdfs::create_directories(config_dir() + "/net.d");
  std::ofstream(config_dir() + "/net.d/" + file) << json;
}

void NetworkTest::write_ptp_network(const std::string& name, const std::string& subnet,
                                    const std::string& extra) const {
  write_network("50-" + name + ".conflist",
                R"({"cniVersion":"1.0.0","name":")" + name + R"(","plugins":[{"type":"ptp",)" + extra +
                    R"("ipam":{"type":"host-local","subnet":")" + subnet + R"(","dataDir":")" + ipam_dir() +
                    R"("}}]})");
}

void NetworkTest::fill_subnet_with_dead_leases(const std::string& net, const std::string& prefix,
                                               const std::string& except) const {
  std::string leases = ipam_dir() + "/" + net;
  std::filesystem::create_directories(leases);
  for (int i = 2; i <= 6; ++i) {
    std::string ip = prefix + std::to_string(i);
    if (ip != except) std::ofstream(leases + "/" + ip) << "crt-00000000-0000-4000-8000-00000000000" << i << "\r\neth0";
  }
}

std::string NetworkTest::lease_holder_after_a_start_on_a_full_subnet(const std::string& prefix,
                                                                     const std::string& holder) {
  write_ptp_network("tiny", prefix + "0/29");
  fill_subnet_with_dead_leases("tiny", prefix, prefix + "2");
  std::string lease = ipam_dir() + "/tiny/" + prefix + "2";
  std::ofstream(lease) << holder << "\r\neth0";
  Result r = crt(with_config({"run", "--net=tiny", "busybox", "--", "/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  std::string now = read_file(lease);
  return now.substr(0, now.find('\r'));
}

void NetworkTest::write_test_plugin(const std::string& name, const std::string& add, const std::string& del) const {
  stdfs::create_directories(config_dir() + "/net.d");
  std::string plugin = config_dir() + "/net.d/" + name;
  std::ofstream(plugin) << "#!/bin/sh\ncat >/dev/null\necho \"$CNI_COMMAND\" >> \"$0.log\"\n"
                           "case \"$CNI_COMMAND\" in\n"
                        << "ADD) " << add << " ;;\n"
                        << "DEL) " << del << " ;;\n"
                        << "VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}' ;;\nesac\n";
  stdfs::permissions(plugin, stdfs::perms::owner_all);
}

void NetworkTest::write_hold_network() const {
  write_test_plugin("hold", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'",
                    "mkdir \"$0.busy\" 2>/dev/null || echo OVERLAP >> \"$0.log\"\n"
                    "     i=0; while [ ! -e \"$0.go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
                    "     rmdir \"$0.busy\"");
  write_network("40-hold.conf", R"({"cniVersion":"1.0.0","name":"hold","type":"hold"})");
}

size_t NetworkTest::hold_dels() const {
  std::string log = hold_log();
  size_t n = 0;
  for (size_t at = 0; (at = log.find("DEL", at)) != std::string::npos; at += 3) ++n;
  return n;
}

void NetworkTest::let_hold_go() const { std::ofstream(config_dir() + "/net.d/hold.go").flush(); }

std::string NetworkTest::start_server(std::unique_ptr<Process>& p, const std::vector<std::string>& pod_flags,
                                      const std::string& name, const std::vector<std::string>& app) {
  std::string file = dir_ + "/uuid-" + name;
  std::vector<std::string> args = {"run", "--uuid-file-save=" + file, "--hostname=" + name};
  args.insert(args.end(), pod_flags.begin(), pod_flags.end());
  args.insert(args.end(), app.begin(), app.end());
  p = std::make_unique<Process>(crt_argv(with_config(args)), RunOptions{.env = {},
                                                                        .timeout = std::chrono::seconds(120),
                                                                        .input = {},
                                                                        .new_session = true});
  std::string uuid = wait_uuid(file);
  if (uuid.empty()) return uuid;
  Result r = crt({"status", "--wait-ready=30s", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  return uuid;
}

std::string NetworkTest::run_and_kill_crt(const std::vector<std::string>& args) {
  std::string file = dir_ + "/uuid-killed";
  std::vector<std::string> argv = {"run", "--uuid-file-save=" + file};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(crt_argv(with_config(argv)),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  if (uuid.empty() || crt({"status", "--wait-ready=30s", uuid}).status != 0) return "";
  kill_crt_and_its_watch(p);
  if (crt({"stop", uuid}).status != 0) return "";
  return crt({"status", "--wait=20s", uuid}).status == 0 ? uuid : "";
}

std::string NetworkTest::wrap_tool(const std::string& tool, const std::string& before) const {
  std::string real = trim_end(run({"/bin/sh", "-c", "command -v " + tool}).out, "\n");
  EXPECT_FALSE(real.empty()) << "no " << tool;
  if (real.empty()) return "";
  std::string bin = dir_ + "/bin";
  std::filesystem::create_directories(bin);
  std::ofstream(bin + "/" + tool) << "#!/bin/sh\nREAL=" << real << "\n" << before << "\nexec \"$REAL\" \"$@\"\n";
  std::filesystem::permissions(bin + "/" + tool, std::filesystem::perms::owner_all);
  return "PATH=" + bin + ":/usr/bin:/bin";
}

void NetworkTest::expect_ended(const std::string& pid_file) {
  std::string stat = read_file("/proc/" + trim_end(read_file(pid_file), "\n") + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z ") != std::string::npos)
      << std::filesystem::path(pid_file).stem() << " runs on: " << stat;
}

void NetworkTest::expect_gc_tears_down(const std::string& uuid, const RunOptions& opts) {
  Result r = crt(with_config({"gc"}), opts);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("tore down the network of " + uuid + "\n"));
}

void NetworkTest::kill_crt_and_its_watch(Process& p) {
  for (const auto& de : std::filesystem::directory_iterator("/proc")) {
    std::string stat;
    try {
      stat = read_file(de.path() / "stat");
    } catch (...) {
      continue;
    }
    // PID (COMM) STATE PPID …
    size_t close = stat.rfind(')');
    if (close == std::string::npos || stat.find("(pod-watch)") == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == p.pid()) ::kill(std::stoi(de.path().filename().string()), SIGKILL);
  }
  p.signal(SIGKILL);
  p.wait();
}

std::string NetworkTest::pod_ip(const std::string& uuid, const std::string& net) const {
  auto st = net::read_state(pod_dir(uuid));
  if (!st) return {};
  for (const auto& n : net::summarize(*st))
    if (n.name == net) return n.ip4;
  return {};
}

void NetworkTest::stop(std::unique_ptr<Process>& p) {
  p->signal(SIGTERM);
  Result r = p->wait();
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
}

}  // namespace crt::test
