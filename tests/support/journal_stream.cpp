// journal-stream IDENTIFIER TEXT: connects to the journal's stream socket
// as systemd does for a service's output, names the stream IDENTIFIER in
// its header, and writes TEXT as one line. Linked statically, so that pod
// tests can bind it into any image.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: journal-stream IDENTIFIER TEXT\n");
    return 2;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, "/run/systemd/journal/stdout", sizeof addr.sun_path - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::perror("journal-stream");
    return 1;
  }
  // Identifier, unit, priority, level prefix, to syslog, kmsg, console.
  std::string out = std::string(argv[1]) + "\n\n6\n0\n0\n0\n0\n" + argv[2] + "\n";
  if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
    std::perror("journal-stream");
    return 1;
  }
  return 0;
}
