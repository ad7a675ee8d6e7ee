#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../support/registry.hpp"
#include "pod_fixture.hpp"

namespace crt::test {

/// GET / from ip:port, retrying while nothing listens yet; "" on failure.
std::string http_get(const std::string& ip, int port,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));

/// Sends one UDP datagram to ip:port.
void send_udp(const std::string& ip, int port, const std::string& data);

/// Binds a TCP socket of `family` to its every address's `port`, with
/// SO_REUSEADDR and SO_REUSEPORT as a host service might; its errno, or 0.
int bind_error(int family, int port);

/// A pod's command serving "hello from HOSTNAME" on port 80 with busybox httpd.
inline constexpr const char* kServe =
    "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

/// Pod tests of networking: each compares the host's whole network state
/// before and after (NetSnapshot), and has a configuration directory of its
/// own for network files (--local-config).
class NetworkTest : public PodTest {
 protected:
  NetworkTest() : PodTest(true) {}

  /// Removes the bridges the test's network files name, however the test
  /// ended (a bridge is its network's: no pod's teardown removes it), then
  /// checks what PodTest checks.
  void TearDown() override;

  /// crt with the test's own configuration directory (net.d).
  std::vector<std::string> with_config(std::vector<std::string> args) const;
  std::string config_dir() const { return dir_ + "/etc"; }
  std::string ipam_dir() const { return dir_ + "/ipam"; }

  void write_network(const std::string& file, const std::string& json) const;
  /// Network "dualbr": a bridge with an IPv4 and an IPv6 subnet, and portmap.
  void write_dual_stack_network() const {
    write_network("10-dualbr.conflist",
                  R"({"cniVersion":"1.0.0","name":"dualbr","plugins":[{"type":"bridge","bridge":"crt-dualbr0",)"
                  R"("isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"172.30.253.0/24"}],)"
                  R"([{"subnet":"fd42:c27::/64"}]],"dataDir":")" +
                      ipam_dir() +
                      R"("}},)"
                      R"({"type":"portmap","capabilities":{"portMappings":true}}]})");
  }

  /// Network "v6only": a bridge that gives pods an IPv6 address alone, and
  /// portmap.
  void write_v6only_network() const {
    write_network("10-v6only.conflist",
                  R"({"cniVersion":"1.0.0","name":"v6only","plugins":[{"type":"bridge","bridge":"crt-v6only0",)"
                  R"("isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"fd42:c28::/64"}]],)"
                  R"("dataDir":")" +
                      ipam_dir() +
                      R"("}},)"
                      R"({"type":"portmap","capabilities":{"portMappings":true}}]})");
  }

  /// A ptp network of the test's own in `subnet`, leases in the test's directory.
  void write_ptp_network(const std::string& name, const std::string& subnet, const std::string& extra = "") const;

  /// Writes host-local leases of network `net` (in ipam_dir()) for the
  /// addresses `prefix`2 to `prefix`6 (a /29's, "172.30.241."), each to a
  /// pod that is gone (container ID "crt-0000…000N", N its last digit), but
  /// `except` (an address some pod has): the subnet is full.
  void fill_subnet_with_dead_leases(const std::string& net, const std::string& prefix,
                                    const std::string& except = "") const;

  /// Starts a pod serving "hello from HOSTNAME" on port 80 (or running
  /// `app`, an image and its arguments); returns its UUID once it is ready.
  std::string start_server(std::unique_ptr<Process>& p, const std::vector<std::string>& pod_flags,
                           const std::string& name,
                           const std::vector<std::string>& app = {"busybox", "--", "/bin/sh", "-c", kServe});

  /// The pod's address on network `net`, from what crt saved.
  std::string pod_ip(const std::string& uuid, const std::string& net = "default") const;

  /// Stops a pod started by start_server() with SIGTERM to its crt.
  static void stop(std::unique_ptr<Process>& p);

  /// Runs `crt run ARGS` (flags, image, app) and kills crt and its watch of
  /// the pod (SIGKILL) once the pod is ready, as a crash of both would; the
  /// pod is stopped with crt stop. Returns the pod's UUID once the pod has
  /// exited, its network left for crt gc. "" on failure.
  std::string run_and_kill_crt(const std::vector<std::string>& args);

  /// Writes dir_/bin/TOOL, which runs the shell lines `before`, then the
  /// host's TOOL ("$REAL") with its arguments; returns "" (and fails the
  /// test) where the host has no TOOL, else a PATH that finds it first.
  std::string wrap_tool(const std::string& tool, const std::string& before) const;

  /// Expects the process whose PID is in file `pid_file` (a plugin or a
  /// program crt ran, that wrote it) to have ended: gone, or a zombie.
  static void expect_ended(const std::string& pid_file);

  /// Kills (SIGKILL) the watch that crt run `p` made of its pod, then `p`:
  /// the pod runs on, and nothing tears its network down at its end.
  static void kill_crt_and_its_watch(Process& p);
};

}  // namespace crt::test
