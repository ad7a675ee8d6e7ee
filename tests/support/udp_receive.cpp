// udp-receive PORT: waits for one UDP datagram on PORT (every IPv4 address),
// prints "udp-receive: got 'DATA'" and exits. Linked statically, so that pod
// tests can bind it into any image (busybox's nc has no UDP mode).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: udp-receive PORT\n");
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::perror("udp-receive");
    return 1;
  }
  std::printf("udp-receive: listening\n");
  std::fflush(stdout);
  char buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) {
    std::perror("udp-receive");
    return 1;
  }
  std::printf("udp-receive: got '%.*s'\n", static_cast<int>(n), buf);
  return 0;
}
