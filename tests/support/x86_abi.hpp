#pragma once

// The x86 (i386) system call ABI on an x86-64 kernel, as tests see it: an
// independent check of what crt decides from it
// (sandbox::kernel_syscall_architectures()).

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <vector>

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

/// Whether x32 system calls fail with ENOSYS here (a kernel without the x32
/// ABI) or kill their caller (a filter the tests run under), tried in a
/// child.
inline bool x32_system_calls_unusable() {
  pid_t child = ::fork();
  if (child == 0) {
    long r = ::syscall(0x40000000L | SYS_getpid);
    _exit(r == -1 && errno == ENOSYS ? 0 : 1);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child) return false;
  return (WIFEXITED(status) && WEXITSTATUS(status) == 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
}

/// The apps' SystemCallArchitectures= crt is to give on this kernel ("" for
/// none): native, and x86 and x32 where the kernel runs their programs.
inline std::string expected_syscall_architectures() {
  bool x86 = !x86_system_calls_fault();
  bool x32 = !x32_system_calls_unusable();
  if (x86 && x32) return "";
  return std::string("native") + (x86 ? " x86" : "") + (x32 ? " x32" : "");
}
#endif

}  // namespace crt::test
