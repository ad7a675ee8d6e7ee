// no-tmpfile COMMAND [ARG]...: runs COMMAND where open(2) and openat(2)
// with O_TMPFILE fail with EOPNOTSUPP, as on a file system without unnamed
// files, so that tests reach the paths crt takes there with the real
// kernel doing everything else. A seccomp filter, inherited by COMMAND.

#include <fcntl.h>
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: no-tmpfile COMMAND [ARG]...\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) {
    std::fprintf(stderr, "no-tmpfile: seccomp_init failed\n");
    return 2;
  }
  // O_TMPFILE is __O_TMPFILE | O_DIRECTORY; __O_TMPFILE alone marks it.
  constexpr scmp_datum_t kTmpfile = __O_TMPFILE;
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EOPNOTSUPP), SCMP_SYS(openat), 1,
                            SCMP_A2(SCMP_CMP_MASKED_EQ, kTmpfile, kTmpfile));
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EOPNOTSUPP), SCMP_SYS(open), 1,
                          SCMP_A1(SCMP_CMP_MASKED_EQ, kTmpfile, kTmpfile));
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    std::fprintf(stderr, "no-tmpfile: loading the filter: %s\n", std::strerror(-rc));
    return 2;
  }
  // It must work, or the tests that use it prove nothing: without the
  // filter, the kernel says EBADF here.
  int fd = ::openat(-1, "x", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0 || errno != EOPNOTSUPP) {
    std::fprintf(stderr, "no-tmpfile: the filter lets O_TMPFILE through\n");
    return 2;
  }
  ::execvp(argv[1], argv + 1);
  std::fprintf(stderr, "no-tmpfile: %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
