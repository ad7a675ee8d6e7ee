#pragma once

#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../support/registry.hpp"
#include "common/fd.hpp"
#include "pod_fixture.hpp"

namespace crt::test {

/// GET / from ip:port, retrying while nothing listens yet; "" on failure.
std::string http_get(const std::string& ip, int port,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));

/// Sends one UDP datagram to ip:port.
void send_udp(const std::string& ip, int port, const std::string& data);

/// Port `port` of the loopback address of `family` (127.0.0.1, ::1), or of
/// its every address.
struct SocketAddress {
  SocketAddress(int family, int port, bool loopback);
  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr_storage storage{};
  socklen_t size = 0;
};

/// Binds a TCP socket of `family` to its every address's `port`, with
/// SO_REUSEADDR and SO_REUSEPORT as a host service might; its errno, or 0.
int bind_error(int family, int port);

/// A host service's TCP socket, listening on `port` of the loopback address
/// of `family` or of its every address (IPv6's alone, as nginx's
/// `listen [::]:PORT`); invalid, errno set, where it cannot be.
UniqueFd listen_on_host(int family, int port, bool loopback = false);

/// A pod's command serving "hello from HOSTNAME" on port 80 with busybox httpd.
inline constexpr const char* kServe =
    "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

/// Calls `undo` at the end of its scope, however the test leaves it (an
/// ASSERT that fails too): what the test changed on the host goes back.
class Undo {
 public:
  explicit Undo(std::function<void()> undo) : undo_(std::move(undo)) {}
  ~Undo() { undo_(); }
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;

 private:
  std::function<void()> undo_;
};

/// A directory crt cannot remove while this lives: a tmpfs mounted in it
/// (on DIR/busy), as a user's mount left there would be (rmdir: EBUSY).
/// For a network record whose removal must fail.
class UnremovableDir {
 public:
  explicit UnremovableDir(const std::filesystem::path& dir);
  ~UnremovableDir();
  UnremovableDir(const UnremovableDir&) = delete;
  UnremovableDir& operator=(const UnremovableDir&) = delete;

  /// "" once the tmpfs is mounted, else why it is not.
  [[nodiscard]] const std::string& error() const { return error_; }
  /// Unmounts the tmpfs (DIR/busy stays, an empty directory): "" or why
  /// it could not be.
  std::string unmount();

 private:
  std::filesystem::path busy_;
  std::string error_;
  bool mounted_ = false;
};

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

  /// Starts a pod (/bin/true) on network "tiny", a ptp /29 of `prefix`0
  /// ("172.30.241."), whose every address is leased: `prefix`2 to CNI
  /// container `holder`, the rest to pods that are gone. The start must
  /// release some, and succeed. Returns the container `prefix`2's lease
  /// names then.
  std::string lease_holder_after_a_start_on_a_full_subnet(const std::string& prefix, const std::string& holder);

  /// Writes net.d/NAME: a plugin that logs each command to net.d/NAME.log
  /// and runs the shell lines `add` and `del` for ADD and DEL.
  void write_test_plugin(const std::string& name, const std::string& add, const std::string& del) const;

  /// Network "hold": its plugin sets up nothing, and each DEL waits for
  /// net.d/hold.go (a minute at most), which let_hold_go() makes; a DEL
  /// that begins while another runs logs "OVERLAP" to net.d/hold.log.
  void write_hold_network() const;
  [[nodiscard]] std::string hold_log() const { return read_file(config_dir() + "/net.d/hold.log"); }
  /// How many DELs network "hold" has had (begun).
  [[nodiscard]] size_t hold_dels() const;
  void let_hold_go() const;

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

  /// Runs crt gc (crt's environment as `opts` says), which must tear down
  /// the network of pod `uuid`, and say so.
  void expect_gc_tears_down(const std::string& uuid, const RunOptions& opts = {});

  /// Kills (SIGKILL) the watch that crt run `p` made of its pod, then `p`:
  /// the pod runs on, and nothing tears its network down at its end.
  static void kill_crt_and_its_watch(Process& p);
};

}  // namespace crt::test
