// Makes a few system calls with harmless arguments and prints, one line
// each, "NAME ok" or "NAME ERRNONAME": what an app's filter let through.
// Without arguments, the calls @system-service has and the default filter
// (or the pod's) takes back; with arguments, the calls they name (harmless also with the
// capability each needs: a missing path or an invalid command).

#include <linux/io_uring.h>
#include <linux/reboot.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

void report(const char* name, long r) {
  if (r >= 0) {
    std::printf("%s ok\n", name);
    if (r > 2) ::close(static_cast<int>(r));
  } else {
    const char* e = strerrorname_np(errno);
    std::printf("%s %s\n", name, e != nullptr ? e : "?");
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    if (name == "umount2")
      report("umount2", ::syscall(SYS_umount2, "/crt-probe-nonexistent", 0));  // ENOENT if allowed
    else if (name == "mount")
      report("mount", ::syscall(SYS_mount, nullptr, "/crt-probe-nonexistent", nullptr, MS_REMOUNT, nullptr));
    else if (name == "reboot")  // in a PID namespace other than the first, CAD_ON is EINVAL
      report("reboot",
             ::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_ON, nullptr));
    else if (name == "personality_query")
      report("personality_query", ::syscall(SYS_personality, 0xffffffffUL));
    else if (name == "personality_linux32")  // what linux32 and setarch i686 set
      report("personality_linux32", ::syscall(SYS_personality, static_cast<unsigned long>(PER_LINUX32)));
    else if (name == "personality_no_aslr")  // what setarch -R sets
      report("personality_no_aslr", ::syscall(SYS_personality, static_cast<unsigned long>(ADDR_NO_RANDOMIZE)));
    else
      std::printf("%s unknown\n", argv[i]);
  }
  if (argc > 1) return 0;
  io_uring_params params{};
  report("io_uring_setup", ::syscall(SYS_io_uring_setup, 1, &params));
  char from[8] = "probe", to[8] = {};
  iovec local{to, sizeof to}, remote{from, sizeof from};
  report("process_vm_readv", ::syscall(SYS_process_vm_readv, ::getpid(), &local, 1, &remote, 1, 0));
  report("userfaultfd", ::syscall(SYS_userfaultfd, 0));
  report("socket_vsock", ::syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0));
  report("getpid", ::syscall(SYS_getpid));
  return 0;
}
