#include "sandbox/pod_filter.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/error.hpp"
#include "sandbox/seccomp.hpp"
#include "store/digest.hpp"
#include "test_support.hpp"

namespace crt::sandbox {
namespace {

using test::Scratch;

bool same(const PodFilter& a, const PodFilter& b) {
  if (a.programs.size() != b.programs.size()) return false;
  for (size_t i = 0; i < a.programs.size(); ++i) {
    const auto& x = a.programs[i];
    const auto& y = b.programs[i];
    if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size() * sizeof(sock_filter)) != 0) return false;
  }
  return true;
}

std::string read_error(const std::string& content) {
  Scratch s;
  test::write_text(s / "f.bpf", content);
  try {
    read_pod_filter(s / "f.bpf");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PodFilter, CompilesOneAllowListPerArchitectureAndAnAuditMask) {
  PodFilter f = compile_pod_filter();
  ASSERT_GE(f.programs.size(), 2u);
  for (const auto& p : f.programs) {
    EXPECT_GT(p.size(), 0u);
    EXPECT_LE(p.size(), size_t{BPF_MAXINSNS});
  }
  // Compiling is deterministic, so the file made at build time is what
  // this libseccomp makes.
  EXPECT_TRUE(same(f, compile_pod_filter()));
}

TEST(PodFilter, FileRoundTrip) {
  Scratch s;
  PodFilter f = compile_pod_filter();
  write_pod_filter(f, s / "pod-seccomp.bpf");
  EXPECT_TRUE(same(f, read_pod_filter(s / "pod-seccomp.bpf")));
}

/// A filter file with a header that fits its body (sha256), but for the
/// given architecture and program count.
std::string file_with(uint32_t arch, size_t programs, const std::string& body) {
  store::Sha256 h;
  h.update(body);
  return "crt-pod-seccomp 1 arch=" + std::to_string(arch) + " programs=" + std::to_string(programs) +
         " sha256=" + h.hex() + "\n" + body;
}

std::string program(uint32_t n, uint32_t instructions) {
  std::string out(reinterpret_cast<const char*>(&n), sizeof n);
  sock_filter allow{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW};
  for (uint32_t i = 0; i < instructions; ++i) out.append(reinterpret_cast<const char*>(&allow), sizeof allow);
  return out;
}

TEST(PodFilter, MalformedFilesAreRefusedNamingTheFile) {
  uint32_t native = seccomp_arch_native();
  EXPECT_NE(read_error("").find("not a crt pod filter file"), std::string::npos) << read_error("");
  EXPECT_NE(read_error("#!/bin/sh\n").find("f.bpf"), std::string::npos);
  EXPECT_NE(read_error("crt-pod-seccomp 1 arch=x\n").find("header is malformed"), std::string::npos);
  // Any change to the programs.
  std::string good = file_with(native, 1, program(1, 1));
  EXPECT_EQ(read_error(good), "(no error)");
  std::string flipped = good;
  flipped.back() = static_cast<char>(flipped.back() ^ 1);
  EXPECT_NE(read_error(flipped).find("corrupt"), std::string::npos) << read_error(flipped);
  // Cut off between two programs: the count says so.
  std::string two = program(1, 1) + program(1, 1);
  EXPECT_EQ(read_error(file_with(native, 2, two)), "(no error)");
  EXPECT_NE(read_error(file_with(native, 2, program(1, 1))).find("holds 1 programs, its header says 2"),
            std::string::npos);
  EXPECT_NE(read_error(file_with(native, 0, "")).find("holds 0 programs"), std::string::npos);
  // Another machine's file lets this machine's system calls through.
  EXPECT_NE(read_error(file_with(native ^ 1, 1, program(1, 1))).find("for another architecture"), std::string::npos);
  EXPECT_NE(read_error(file_with(native, 1, program(0, 0))).find("a program of 0 instructions"), std::string::npos);
  EXPECT_NE(read_error(file_with(native, 1, program(3, 2))).find("truncated"), std::string::npos);
  EXPECT_NE(read_error(file_with(native, 1, program(1, 1) + "x")).find("truncated"), std::string::npos);
}

/// What a system call gives under the filter, in a child: "ok" (or with
/// `value`, its result) or the errno's name.
std::string under_filter(const PodFilter& f, long (*call)(), bool value = false) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    // Unprivileged tests load it as nspawn's would be without CAP_SYS_ADMIN.
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int err = install_pod_filter(f);
    std::string out;
    if (err != 0) {
      out = std::string("install failed: ") + strerrorname_np(err);
    } else {
      errno = 0;
      long r = call();
      out = r < 0 ? strerrorname_np(errno) : value ? std::to_string(r) : "ok";
    }
    (void)!::write(fds[1], out.data(), out.size());
    _exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[128];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return std::string("killed by SIG") + sigabbrev_np(WTERMSIG(status));
  return out;
}

TEST(NamespaceFilter, RefusesNewNamespacesAndLeavesTheRest) {
  PodFilter f;
  f.programs = {namespace_filter_program({}, {})};
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::unshare(CLONE_NEWUSER)); }), "EPERM");
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::unshare(CLONE_FILES | CLONE_NEWNET)); }), "EPERM");
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::unshare(CLONE_FILES)); }), "ok");
  // clone3's flags are behind a pointer: libc falls back to clone.
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_clone3, nullptr, 0); }), "ENOSYS");
  // setns(2) into a namespace of any type, or of a given one.
  EXPECT_EQ(under_filter(f,
                         [] {
                           int fd = ::open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
                           return static_cast<long>(fd < 0 ? fd : ::setns(fd, 0));
                         }),
            "EPERM");
  EXPECT_EQ(under_filter(f,
                         [] {
                           int fd = ::open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
                           return static_cast<long>(fd < 0 ? fd : ::setns(fd, CLONE_NEWUTS));
                         }),
            "EPERM");
}

TEST(NamespaceFilter, LetsTheAllowedTypesThrough) {
  if (::geteuid() != 0) GTEST_SKIP() << "a uts namespace takes root";
  PodFilter f;
  f.programs = {namespace_filter_program({}, {"user", "uts"})};
  // The kernel refuses a user namespace to a chrooted process (as in a build
  // chroot), filter or none.
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  int status = -1;
  ::waitpid(pid, &status, 0);
  if (status == 0) {
    EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::unshare(CLONE_NEWUSER)); }), "ok");
  }
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::unshare(CLONE_NEWUTS)); }), "ok");
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::unshare(CLONE_NEWUTS | CLONE_NEWNET)); }), "EPERM");
  EXPECT_EQ(under_filter(f,
                         [] {
                           int fd = ::open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
                           return static_cast<long>(fd < 0 ? fd : ::setns(fd, CLONE_NEWUTS));
                         }),
            "ok");
  EXPECT_EQ(under_filter(f,
                         [] {
                           int fd = ::open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
                           return static_cast<long>(fd < 0 ? fd : ::setns(fd, 0));
                         }),
            "EPERM");
}

TEST(AllowedNamespaces, NoneWithoutCapSysAdminUnlessSaid) {
  EXPECT_EQ(default_allowed_namespaces({"CAP_CHOWN", "CAP_KILL"}), std::vector<std::string>{});
  EXPECT_EQ(default_allowed_namespaces({"CAP_CHOWN", "CAP_SYS_ADMIN"}), std::nullopt);
  EXPECT_EQ(parse_allowed_namespaces("all"), std::nullopt);
  EXPECT_EQ(parse_allowed_namespaces("none"), std::vector<std::string>{});
  EXPECT_EQ(parse_allowed_namespaces("user,net,user"), (std::vector<std::string>{"user", "net"}));
  EXPECT_EQ(test::error_of([] { parse_allowed_namespaces("user,mount"); }),
            "--allow-namespaces 'user,mount': unknown namespace type 'mount' (all, none, or some of cgroup, ipc, "
            "mnt, net, pid, user, uts)");
  EXPECT_EQ(parse_allowed_namespaces("uts,user,pid,net,mnt,ipc,cgroup"), std::nullopt);
  EXPECT_NE(test::error_of([] { parse_allowed_namespaces(""); }), "");
}

TEST(PodFilter, AllowsOrdinaryCallsAndDeniesWhatNspawnDenies) {
  PodFilter f = compile_pod_filter();
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::getpid()); }), "ok");
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)); }), "ok");
  // The kernel's keyrings are not namespaced: a pod gets none of them.
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }),
            "EPERM");
  auto add_key = [] { return ::syscall(SYS_add_key, "user", "crt-test", "x", 1, KEY_SPEC_PROCESS_KEYRING); };
  EXPECT_EQ(under_filter(f, add_key), "EPERM");
  // Audit: "off" for the pod.
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)); }),
            "EAFNOSUPPORT");
  // The pod's systemd loads the apps' own filters.
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_seccomp, 2 /* SECCOMP_GET_ACTION_AVAIL */, 0, nullptr); }),
            "EFAULT");
}

// vsock has no network namespace: none for a pod.
TEST(PodFilter, DeniesVsockSockets) {
  PodFilter none;
  none.arch = seccomp_arch_native();
  none.programs.push_back({sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}});
  if (under_filter(none, [] { return static_cast<long>(::socket(AF_VSOCK, SOCK_STREAM, 0)); }) != "ok")
    GTEST_SKIP() << "this kernel has no vsock (it refuses the socket itself)";
  PodFilter f = compile_pod_filter();
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::socket(AF_VSOCK, SOCK_STREAM, 0)); }), "EAFNOSUPPORT");
  EXPECT_EQ(under_filter(f, [] { return static_cast<long>(::socket(AF_VSOCK, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }),
            "EAFNOSUPPORT");
}

// Docker's personalities: Linux, 32-bit Linux and the 2.6 uname, and the
// query; not ADDR_NO_RANDOMIZE (setarch -R) or READ_IMPLIES_EXEC.
TEST(PodFilter, AllowsOnlyDockersPersonalities) {
  PodFilter f = compile_pod_filter();
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, 0xffffffffUL); }), "ok");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, 0x0UL); }), "ok");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, static_cast<unsigned long>(PER_LINUX32)); }), "ok");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, static_cast<unsigned long>(UNAME26)); }), "ok");
  EXPECT_EQ(
      under_filter(f, [] { return ::syscall(SYS_personality, static_cast<unsigned long>(PER_LINUX32) | UNAME26); }),
      "ok");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, static_cast<unsigned long>(ADDR_NO_RANDOMIZE)); }),
            "EPERM");
  EXPECT_EQ(
      under_filter(
          f, [] { return ::syscall(SYS_personality, static_cast<unsigned long>(PER_LINUX32) | ADDR_NO_RANDOMIZE); }),
      "EPERM");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, static_cast<unsigned long>(READ_IMPLIES_EXEC)); }),
            "EPERM");
  // The kernel reads an unsigned int: bits above it neither hide a flag
  // nor spoil an allowed value.
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, 0x100000000UL | ADDR_NO_RANDOMIZE); }), "EPERM");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, 0x100000000UL | PER_LINUX32); }), "ok");
  EXPECT_EQ(under_filter(f, [] { return ::syscall(SYS_personality, ~0UL); }), "ok");
}

#if defined(__x86_64__)
/// keyctl(KEYCTL_GET_KEYRING_ID, session) in the x86 (i386) ABI.
long ia32_keyctl() {
  long r;
  asm volatile("int $0x80" : "=a"(r) : "a"(288L), "b"(0L), "c"(-3L), "d"(0L) : "memory", "r8", "r9", "r10", "r11");
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

/// personality(persona) in the x86 (i386) ABI: a call of its own there,
/// not multiplexed.
template <unsigned long persona>
long ia32_personality() {
  long r;
  asm volatile("int $0x80" : "=a"(r) : "a"(136L), "b"(persona) : "memory", "r8", "r9", "r10", "r11");
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

TEST(PodFilter, CoversTheCompatibilityArchitecturesToo) {
  PodFilter none;
  none.arch = seccomp_arch_native();
  none.programs.push_back({sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}});
  // Without IA32 emulation (or with it off at boot), int $0x80 fails with
  // ENOSYS, or faults where the kernel has no handler for it at all.
  std::string unfiltered = under_filter(none, ia32_keyctl);
  if (unfiltered == "ENOSYS" || unfiltered == "killed by SIGSEGV")
    GTEST_SKIP() << "no x86 system calls on this kernel (" << unfiltered << ")";
  EXPECT_EQ(under_filter(none, ia32_keyctl), "ok");
  EXPECT_EQ(under_filter(compile_pod_filter(), ia32_keyctl), "EPERM");
  EXPECT_EQ(under_filter(compile_pod_filter(), ia32_personality<PER_LINUX32>), "ok");
  EXPECT_EQ(under_filter(compile_pod_filter(), ia32_personality<0xffffffff>), "ok");
  EXPECT_EQ(under_filter(none, ia32_personality<ADDR_NO_RANDOMIZE>), "ok");
  EXPECT_EQ(under_filter(compile_pod_filter(), ia32_personality<ADDR_NO_RANDOMIZE>), "EPERM");
}
#endif

TEST(PodFilter, GivesThePodASessionKeyringOfItsOwn) {
  // keyctl is denied under the pod's filter, so an allow-all program shows it.
  PodFilter allow_all;
  allow_all.arch = seccomp_arch_native();
  allow_all.programs.push_back({sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}});
  auto session = [] { return ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1); };
  long ours = session();
  if (ours < 0) GTEST_SKIP() << "no keyrings here: " << strerrorname_np(errno);
  std::string theirs = under_filter(allow_all, session, true);
  EXPECT_NE(theirs, std::to_string(ours));
  EXPECT_EQ(theirs.find_first_not_of("0123456789"), std::string::npos) << theirs;
}

TEST(PodFilter, InstallingAMalformedProgramFails) {
  PodFilter f;
  f.programs.push_back({sock_filter{0xffff, 0, 0, 0}});
  EXPECT_EQ(under_filter(f, [] { return 0L; }), "install failed: EINVAL");
}

}  // namespace
}  // namespace crt::sandbox
