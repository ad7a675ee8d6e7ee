// What a host port's reservation holds, on the real kernel: the socket is
// bound, never listening; every other bind of the port fails, however its
// socket is set up; a connection is refused, not left hanging.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "net/pod_network.hpp"

namespace crt::net {
namespace {

struct Family {
  int domain;
  const char* any;  ///< the reservation's host address
};

sockaddr_storage address_of(int domain, uint16_t port, bool loopback, socklen_t& len) {
  sockaddr_storage s{};
  if (domain == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&s);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (loopback) a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&s);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (loopback) a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  return s;
}

/// A port of `domain`/`type` the kernel has free now.
uint16_t free_port(int domain, int type) {
  UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, 0));
  socklen_t len = 0;
  sockaddr_storage s = address_of(domain, 0, false, len);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), len) < 0) return 0;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&s), &len) < 0) return 0;
  return ntohs(domain == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&s)->sin6_port
                                  : reinterpret_cast<sockaddr_in*>(&s)->sin_port);
}

/// The errno of another socket's bind (and, TCP, listen) of the port; 0 if
/// it got it.
int other_bind(int domain, int type, uint16_t port, bool reuse_addr, bool reuse_port) {
  UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  int on = 1;
  if (reuse_addr) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (reuse_port) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  if (domain == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  socklen_t len = 0;
  sockaddr_storage s = address_of(domain, port, false, len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), len) < 0) return errno;
  if (type == SOCK_STREAM && ::listen(fd.get(), 1) < 0) return errno;
  return 0;
}

TEST(PortReservation, NoOtherSocketGetsTheReservedPortHoweverItIsSetUp) {
  if (::geteuid() != 0) GTEST_SKIP() << "low ports aside, crt reserves as root; so does this test";
  for (Family f : {Family{AF_INET, ""}, Family{AF_INET6, "::"}}) {
    if (f.domain == AF_INET6 && ::access("/proc/net/if_inet6", F_OK) != 0) continue;
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      uint16_t port = free_port(f.domain, type);
      ASSERT_NE(port, 0);
      std::string proto = type == SOCK_STREAM ? "tcp" : "udp";
      UniqueFd held = reserve_host_port({f.any, port, 80, proto});
      for (bool reuse_addr : {false, true})
        for (bool reuse_port : {false, true})
          EXPECT_EQ(other_bind(f.domain, type, port, reuse_addr, reuse_port), EADDRINUSE)
              << (f.domain == AF_INET6 ? "IPv6 " : "IPv4 ") << proto << " SO_REUSEADDR=" << reuse_addr
              << " SO_REUSEPORT=" << reuse_port;
      // A second reservation of it says so.
      try {
        (void)reserve_host_port({f.any, port, 80, proto});
        ADD_FAILURE() << "reserved twice";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("is in use"), std::string::npos) << e.what();
      }
      if (type == SOCK_STREAM) {
        // Nothing listens: a client is refused at once.
        UniqueFd c(::socket(f.domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
        socklen_t len = 0;
        sockaddr_storage s = address_of(f.domain, port, true, len);
        EXPECT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&s), len), -1);
        EXPECT_EQ(errno, ECONNREFUSED) << std::strerror(errno);
      }
    }
  }
}

}  // namespace
}  // namespace crt::net
