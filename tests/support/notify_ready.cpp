// notify-ready [SECONDS]: sleeps, then sends READY=1 to $NOTIFY_SOCKET and
// sleeps on. Linked statically, so that pod tests can bind it into any
// image (busybox has no systemd-notify).

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  unsigned delay = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 0;
  ::sleep(delay);
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || std::strlen(path) >= sizeof(sockaddr_un::sun_path)) {
    std::fprintf(stderr, "notify-ready: no usable NOTIFY_SOCKET\n");
    return 1;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const char msg[] = "READY=1";
  if (fd < 0 || ::sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::perror("notify-ready");
    return 1;
  }
  std::printf("notify-ready: sent READY=1\n");
  std::fflush(stdout);
  ::pause();
  return 0;
}
