#pragma once

// The x86 (i386) system call ABI on an x86-64 kernel, as tests see it: an
// independent check of what crt decides from it
// (sandbox::kernel_syscall_architectures()).

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

namespace crt::test {

#if defined(__x86_64__)
/// Whether int $0x80 faults here (a kernel without IA32 emulation), tried
/// in a child.
inline bool x86_system_calls_fault() {
  pid_t child = ::fork();
  if (child == 0) {
    long r;
    asm volatile("int $0x80" : "=a"(r) : "a"(20L /* getpid */) : "memory", "r8", "r9", "r10", "r11");
    _exit(r > 0 ? 0 : 1);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child) return false;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}
#endif

}  // namespace crt::test
