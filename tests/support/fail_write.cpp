// fail-write SIZE COMMAND [ARG]...: runs COMMAND where every write(2) of
// exactly SIZE bytes fails with EIO, as a disk's passing error fails one
// write among many, so that tests see what crt does with the data it could
// not write while the kernel does everything else. A seccomp filter,
// inherited by COMMAND; a SIZE no other write has picks out one write.

#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  char* end = nullptr;
  unsigned long long size = argc > 2 ? std::strtoull(argv[1], &end, 10) : 0;
  if (argc < 3 || end == argv[1] || *end != '\0') {
    std::fprintf(stderr, "usage: fail-write SIZE COMMAND [ARG]...\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) {
    std::fprintf(stderr, "fail-write: seccomp_init failed\n");
    return 2;
  }
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EIO), SCMP_SYS(write), 1, SCMP_A2(SCMP_CMP_EQ, size));
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    std::fprintf(stderr, "fail-write: loading the filter: %s\n", std::strerror(-rc));
    return 2;
  }
  ::execvp(argv[2], argv + 2);
  std::fprintf(stderr, "fail-write: %s: %s\n", argv[2], std::strerror(errno));
  return 127;
}
