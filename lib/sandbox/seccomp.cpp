#include "sandbox/seccomp.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iterator>
#include <optional>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "common/subprocess.hpp"
#include "sandbox/syscall_groups.hpp"

namespace crt::sandbox {

namespace {

bool is_errno_name(std::string_view name) {
  for (int e = 1; e < 4096; ++e) {
    const char* n = strerrorname_np(e);
    if (n != nullptr && name == n) return true;
  }
  return false;
}

#if defined(__x86_64__)
/// How the x86 probe's child ends when int $0x80 faults.
constexpr int kX86Faulted = 3;

/// Ends the x86 probe's child with kX86Faulted: by an exit, not the
/// SIGSEGV, which would dump its core (a "core" file in crt's directory
/// under a core limit such as systemd gives its services, or a crash of
/// crt's that systemd-coredump records) at every pod's start.
[[noreturn]] void x86_fault(int) { _exit(kX86Faulted); }

/// getpid() in the x86 (i386) ABI, in a child that shares crt's memory.
int x86_getpid(void*) {
  // Its own handler: a child without CLONE_SIGHAND has its own table.
  struct sigaction sa {};
  sa.sa_handler = x86_fault;
  ::sigaction(SIGSEGV, &sa, nullptr);
  long r;
  asm volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
  return r > 0 ? 0 : 1;
}

/// getpid() in the x32 ABI (x86-64's numbers with bit 30 set), in a child
/// that shares crt's memory: 0 when it fails with ENOSYS.
int x32_getpid(void*) {
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(0x40000000L | SYS_getpid) : "memory", "rcx", "r11");
  return r == -ENOSYS ? 0 : 1;
}

/// Runs `probe` in a child that shares crt's memory and returns how it
/// ended (a wait status), or nothing when no child could be made. A
/// child: a system call filter crt runs under may kill the caller.
std::optional<int> probe_in_child(int (*probe)(void*)) {
  alignas(16) char stack[16 * 1024];
  // CLONE_VFORK: crt waits, so the child may use this frame's stack.
  pid_t pid = ::clone(probe, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
  if (pid < 0) return std::nullopt;
  int status = 0;
  (void)wait_child(pid, &status);
  return status;
}

/// Whether int $0x80 faults here (SIGSEGV: the kernel has no handler for
/// it) rather than reaching the kernel's system call entry.
bool x86_system_calls_fault() {
  std::optional<int> status = probe_in_child(x86_getpid);
  if (!status) return false;  // not known: keep the x86 filter
  return (WIFEXITED(*status) && WEXITSTATUS(*status) == kX86Faulted) ||
         (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSEGV);
}

/// Whether no app can make x32 system calls here: they fail with ENOSYS (a
/// kernel without the x32 ABI), or a filter crt runs under, which the pod
/// inherits, kills their caller.
bool x32_system_calls_unusable() {
  std::optional<int> status = probe_in_child(x32_getpid);
  if (!status) return false;  // not known: keep the x32 filter
  return (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) || (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSYS);
}
#endif

}  // namespace

std::vector<std::string> kernel_syscall_architectures() {
#if defined(__x86_64__)
  bool x86 = !x86_system_calls_fault();
  bool x32 = !x32_system_calls_unusable();
  if (x86 && x32) return {};
  std::vector<std::string> archs{"native"};
  if (x86) archs.emplace_back("x86");
  if (x32) archs.emplace_back("x32");
  return archs;
#else
  return {};
#endif
}

// seccomp(2): software that confines itself further (libseccomp with
// TSYNC, browsers' sandboxes) needs it; a filter only ever takes away.
SyscallFilter default_syscall_filter() {
  return {true,
          {"@system-service", "@pkey", "chroot", "seccomp"},
          "EPERM",
          {"io_uring_enter", "io_uring_register", "io_uring_setup", "process_vm_readv", "process_vm_writev",
           "userfaultfd"}};
}

void validate_syscall_entry(std::string_view name) {
  if (name.empty()) throw Error("empty system call name");
  if (name[0] == '@') {
    // The stage1 systemd's own groups: those it will accept.
    if (systemd_syscall_groups().count(std::string(name)) == 0)
      throw Error("unknown system call group " + quote(name));
    return;
  }
  if (seccomp_syscall_resolve_name(std::string(name).c_str()) == __NR_SCMP_ERROR)
    throw Error("unknown system call " + quote(name));
}

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
  UniqueFd mem(::memfd_create("crt-seccomp", MFD_CLOEXEC));
  if (!mem) throw_errno("creating a memory file");
  if (int r = seccomp_export_bpf(ctx, mem.get()); r < 0) throw_errno(-r, "compiling a system call filter");
  std::string bytes = fs::read_file("/proc/self/fd/" + std::to_string(mem.get()));
  if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0) throw Error("libseccomp exported no whole program");
  std::vector<sock_filter> prog(bytes.size() / sizeof(sock_filter));
  std::memcpy(prog.data(), bytes.data(), bytes.size());
  return prog;
}

void add_filter_architectures(scmp_filter_ctx ctx, std::vector<std::string> architectures) {
#if defined(__x86_64__)
  if (architectures.empty()) architectures = {"x86", "x32"};
#endif
  for (const auto& a : architectures) {
    if (a == "native") continue;
    uint32_t arch = seccomp_arch_resolve_name(a.c_str());
    if (arch == 0) throw Error("unknown system call architecture " + quote(a));
    if (int r = seccomp_arch_add(ctx, arch); r < 0 && r != -EEXIST)
      throw_errno(-r, "adding architecture " + quote(a) + " to the system call filter");
  }
}

namespace {

struct NamespaceType {
  const char* name;
  uint64_t flag;
};
/// The types systemd 252 filters: it takes "time" in RestrictNamespaces=
/// but never refuses it (a time namespace takes CAP_SYS_ADMIN, which a user
/// namespace would give).
constexpr NamespaceType kNamespaceTypes[] = {
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC},   {"mnt", CLONE_NEWNS},  {"net", CLONE_NEWNET},
    {"pid", CLONE_NEWPID},       {"user", CLONE_NEWUSER}, {"uts", CLONE_NEWUTS},
};

bool is_allowed(const std::vector<std::string>& allowed, const char* type) {
  return std::find(allowed.begin(), allowed.end(), type) != allowed.end();
}

}  // namespace

AllowedNamespaces parse_allowed_namespaces(std::string_view spec) {
  return with_context("--allow-namespaces " + quote(spec), [&]() -> AllowedNamespaces {
    if (spec == "all") return std::nullopt;
    std::vector<std::string> types;
    if (spec == "none") return types;
    for (const auto& t : split(spec, ',')) {
      if (std::none_of(std::begin(kNamespaceTypes), std::end(kNamespaceTypes),
                       [&](const NamespaceType& n) { return t == n.name; }))
        throw Error("unknown namespace type " + quote(t) +
                    " (all, none, or some of cgroup, ipc, mnt, net, pid, user, uts)");
      if (!is_allowed(types, t.c_str())) types.push_back(t);
    }
    // Every type: systemd then filters nothing, as for "all".
    if (types.size() == std::size(kNamespaceTypes)) return std::nullopt;
    return types;
  });
}

AllowedNamespaces default_allowed_namespaces(const std::vector<std::string>& capabilities) {
  if (std::find(capabilities.begin(), capabilities.end(), "CAP_SYS_ADMIN") != capabilities.end()) return std::nullopt;
  return std::vector<std::string>{};
}

std::vector<sock_filter> namespace_filter_program(const std::vector<std::string>& architectures,
                                                  const std::vector<std::string>& allowed) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) throw Error("creating a system call filter");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  add_filter_architectures(ctx, architectures);
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  auto add = [&](uint32_t action, const char* call, std::vector<scmp_arg_cmp> args) {
    int nr = seccomp_syscall_resolve_name(call);
    if (nr == __NR_SCMP_ERROR) return;
    if (int r = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.data()); r < 0)
      throw_errno(-r, std::string("adding a rule for ") + call + " to the namespace filter");
  };
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  add(SCMP_ACT_ERRNO(ENOSYS), "clone3", {});
  if (allowed.empty())
    add(eperm, "setns", {});  // whatever its type: the kernel reads 32 of its 64 bits
  else
    // A namespace of any type. As systemd's, the rules compare all 64 bits
    // where the kernel reads 32 (a type of 1 << 32 passes as 0): joining
    // still takes CAP_SYS_ADMIN over the namespace.
    add(eperm, "setns", {SCMP_A1(SCMP_CMP_EQ, 0)});
  for (const auto& [name, flag] : kNamespaceTypes) {
    if (is_allowed(allowed, name)) continue;
    add(eperm, "unshare", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
    // clone's flags come first on every architecture crt runs on (not s390).
    add(eperm, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
    if (!allowed.empty()) add(eperm, "setns", {SCMP_A1(SCMP_CMP_MASKED_EQ, flag, flag)});
  }
  return export_bpf(ctx);
}

SyscallFilter parse_syscall_filter(std::string_view spec) {
  return with_context("parsing --seccomp " + quote(spec), [&] {
    SyscallFilter f;
    f.entries.clear();
    bool mode_seen = false;
    for (const auto& item : split(spec, ',')) {
      if (item.rfind("mode=", 0) == 0) {
        std::string mode = item.substr(5);
        if (mode != "retain" && mode != "remove") throw Error("mode must be 'retain' or 'remove'");
        f.allow_list = mode == "retain";
        mode_seen = true;
      } else if (item.rfind("errno=", 0) == 0) {
        f.error_number = item.substr(6);
        if (!is_errno_name(f.error_number)) throw Error("unknown errno name " + quote(f.error_number));
      } else {
        validate_syscall_entry(item);
        f.entries.push_back(item);
      }
    }
    if (!mode_seen) throw Error("missing mode=retain or mode=remove");
    if (f.entries.empty()) throw Error("no system calls given");
    return f;
  });
}

}  // namespace crt::sandbox
