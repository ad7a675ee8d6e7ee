#include "sandbox/pod_filter.hpp"

#include <linux/audit.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "sandbox/seccomp.hpp"
#include "sandbox/syscall_groups.hpp"
#include "store/digest.hpp"

namespace crt::sandbox {

namespace {

constexpr std::string_view kMagic = "crt-pod-seccomp 1";
constexpr uint32_t kMaxPrograms = 16;

/// What systemd-nspawn 252 (Debian's) allows its container, for its default
/// capabilities (CAP_SYS_PTRACE, CAP_SYS_BOOT and CAP_SYS_TTY_CONFIG are
/// among them; CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_IPC_LOCK,
/// CAP_SYS_PACCT and CAP_SYSLOG are not, so @clock, @module, @raw-io,
/// @memlock, acct and syslog stay out). crt gives nspawn no capability that
/// would add to this list. Left out on purpose, as nspawn does: @keyring (the
/// kernel's keyrings are not namespaced), @swap, @obsolete, @cpu-emulation,
/// @pkey, bpf, fanotify_*, kexec_*, open_by_handle_at, perf_event_open,
/// quotactl, lookup_dcookie, nfsservctl.
const std::vector<std::string>& nspawn_allow_list() {
  static const std::vector<std::string> list = {
      // Groups.
      "@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc", "@mount", "@network-io",
      "@process", "@resources", "@setuid", "@signal", "@sync", "@timer",
      // Calls in none of those groups.
      "arm_fadvise64_64", "brk", "capget", "capset", "copy_file_range", "fadvise64", "fadvise64_64", "flock",
      "get_mempolicy", "getcpu", "getpriority", "getrandom", "ioctl", "ioprio_get", "kcmp", "madvise", "mincore",
      "mprotect", "mremap", "name_to_handle_at", "oldolduname", "olduname", "personality", "readahead", "readdir",
      "remap_file_pages", "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
      "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
      "sched_yield", "seccomp", "sendfile", "sendfile64", "setdomainname", "setfsgid", "setfsgid32", "setfsuid",
      "setfsuid32", "sethostname", "setpgid", "setsid", "splice", "sysinfo", "tee", "umask", "uname", "userfaultfd",
      "vmsplice",
      // Granted by nspawn's default capabilities.
      "process_vm_readv", "process_vm_writev", "ptrace",  // CAP_SYS_PTRACE
      "reboot",                                           // CAP_SYS_BOOT
      "vhangup",                                          // CAP_SYS_TTY_CONFIG
  };
  return list;
}

/// The architectures a process here can make system calls in, as systemd
/// counts and orders them (its seccomp_local_archs: the native one last).
std::vector<uint32_t> local_architectures(uint32_t native) {
  switch (native) {
    case SCMP_ARCH_X86_64: return {SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_X86_64};
    case SCMP_ARCH_X32: return {SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32};
    case SCMP_ARCH_AARCH64: return {SCMP_ARCH_ARM, SCMP_ARCH_AARCH64};
    case SCMP_ARCH_PPC64LE: return {SCMP_ARCH_PPC, SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE};
    case SCMP_ARCH_PPC64: return {SCMP_ARCH_PPC, SCMP_ARCH_PPC64LE, SCMP_ARCH_PPC64};
    case SCMP_ARCH_S390X: return {SCMP_ARCH_S390, SCMP_ARCH_S390X};
    case SCMP_ARCH_MIPSEL64: return {SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_MIPSEL64};
    case SCMP_ARCH_MIPSEL64N32: return {SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32};
    case SCMP_ARCH_MIPS64: return {SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPS64};
    case SCMP_ARCH_MIPS64N32: return {SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32};
    default: return {native};
  }
}

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

void check_seccomp(int r, const std::string& what) {
  if (r < 0) throw Error(what + ": " + std::strerror(-r));
}

/// A filter for one architecture, set up as systemd sets up its own:
/// other architectures pass through, and loading it does not set
/// no_new_privs (setuid programs in the apps keep working).
Context context_for(uint32_t arch, uint32_t default_action) {
  Context ctx(seccomp_init(default_action));
  if (!ctx) throw Error("libseccomp could not allocate a filter");
  if (arch != seccomp_arch_native()) {
    check_seccomp(seccomp_arch_remove(ctx.get(), seccomp_arch_native()), "removing the native architecture");
    check_seccomp(seccomp_arch_add(ctx.get(), arch), "adding architecture " + std::to_string(arch));
  }
  check_seccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW),
                "setting the filter's bad-arch action");
  check_seccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "clearing the filter's no_new_privs");
  return ctx;
}

/// Adds `action` for each call; a call this architecture lacks is skipped,
/// as systemd skips it.
void add_rules(const Context& ctx, const std::vector<std::string>& names, uint32_t action) {
  for (const auto& name : names) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;
    (void)seccomp_rule_add_exact(ctx.get(), action, nr, 0);
  }
}

std::vector<sock_filter> allow_list_program(uint32_t arch) {
  std::vector<std::string> allowed = expand_syscalls({false, nspawn_allow_list(), "EPERM", {}});
  std::set<std::string> allowed_set(allowed.begin(), allowed.end());
  std::vector<std::string> denied;
  for (const auto& name : expand_syscalls({false, {"@known"}, "EPERM", {}}))
    if (allowed_set.count(name) == 0) denied.push_back(name);

  // Calls systemd does not know (newer than it) fail with ENOSYS, so that
  // programs fall back to older ones; known ones not allowed, with EPERM.
  Context ctx = context_for(arch, SCMP_ACT_ERRNO(ENOSYS));
  add_rules(ctx, allowed, SCMP_ACT_ALLOW);
  add_rules(ctx, denied, SCMP_ACT_ERRNO(EPERM));
  check_seccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "choosing the filter's binary-tree layout");
  return export_bpf(ctx.get());
}

/// Audit does not work in containers: socket(AF_NETLINK, *, NETLINK_AUDIT)
/// fails with EAFNOSUPPORT, which audit's users take for "audit is off".
/// Empty where the architecture multiplexes socket() (x86's socketcall).
std::vector<sock_filter> audit_program(uint32_t arch) {
  Context ctx = context_for(arch, SCMP_ACT_ALLOW);
  if (seccomp_rule_add_exact(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 2,
                             SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_EQ, NETLINK_AUDIT)) < 0)
    return {};
  return export_bpf(ctx.get());
}

/// crt's own addition: vsock has no network namespace, so AF_VSOCK would
/// reach the hypervisor, the host's virtual machines and the host's vsock
/// ports from any pod, whatever its network (Docker's filter takes it too):
/// socket(AF_VSOCK, …) fails with EAFNOSUPPORT, as where vsock is not
/// built. Empty where the architecture multiplexes socket() (x86's
/// socketcall, whose arguments are in memory, out of a filter's reach; its
/// direct socket call libseccomp 2.5 cannot match by argument either).
std::vector<sock_filter> vsock_program(uint32_t arch) {
  Context ctx = context_for(arch, SCMP_ACT_ALLOW);
  if (seccomp_rule_add_exact(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_VSOCK)) < 0)
    return {};
  return export_bpf(ctx.get());
}

/// The personalities a pod may take, as Docker's filter allows: Linux
/// (0), PER_LINUX32 (8, what `linux32` and `setarch i686` set),
/// UNAME26, both, and the query (0xffffffff, which systemd makes). Not
/// ADDR_NO_RANDOMIZE (`setarch -R`: no ASLR for what the caller executes),
/// READ_IMPLIES_EXEC and the other flags, which weaken what runs after.
constexpr uint32_t kAllowedPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/// seccomp_data.args[0]'s low 32 bits: personality() takes an unsigned int,
/// so the kernel ignores the upper half of the register, as this does.
constexpr uint32_t kFirstArgumentLowWord =
    offsetof(seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4);

/// crt's own: personality() with any other value fails with EPERM, on
/// every architecture in `archs` (personality is a call of its own on each,
/// x86's too). One program, written here: libseccomp takes one comparison
/// per argument in a rule and its rules are alternatives, so it cannot say
/// "none of these values" where the filter's default is to allow.
std::vector<sock_filter> personality_program(const std::vector<uint32_t>& archs) {
  // The audit architecture the kernel reports, and personality's number
  // there (x32's calls come as x86-64's, their numbers with bit 30 set).
  std::map<uint32_t, std::vector<uint32_t>> numbers;
  for (uint32_t arch : archs) {
    int nr = seccomp_syscall_resolve_name_arch(arch, "personality");
    if (nr < 0) continue;
    numbers[arch == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arch].push_back(static_cast<uint32_t>(nr));
  }
  auto stmt = [](uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; };
  auto jeq = [](uint32_t k, uint8_t jt, uint8_t jf) { return sock_filter{BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k}; };
  // The check of the argument, then "allow", at the end; each architecture's
  // block jumps there.
  std::vector<sock_filter> check;
  check.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kFirstArgumentLowWord));
  const auto allowed_count = static_cast<uint8_t>(std::size(kAllowedPersonalities));
  for (uint8_t i = 0; i < allowed_count; ++i)
    check.push_back(jeq(kAllowedPersonalities[i], static_cast<uint8_t>(allowed_count - i), 0));
  check.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  check.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));

  std::vector<std::vector<sock_filter>> blocks;
  for (const auto& [audit, nrs] : numbers) {
    // arch == audit ? (nr in nrs ? check : allow) : next block
    std::vector<sock_filter> b;
    b.push_back(jeq(audit, 0, static_cast<uint8_t>(nrs.size() + 2)));
    b.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    for (uint32_t nr : nrs) b.push_back(jeq(nr, 0, 0));  // jt patched below
    b.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    blocks.push_back(std::move(b));
  }
  std::vector<sock_filter> prog{stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch))};
  size_t size = 1 + 1 + check.size();  // the load, the blocks, "allow" for other architectures, the check
  for (const auto& b : blocks) size += b.size();
  size_t check_at = size - check.size();
  for (auto& b : blocks) {
    size_t at = prog.size();
    for (size_t i = 2; i + 1 < b.size(); ++i) b[i].jt = static_cast<uint8_t>(check_at - (at + i) - 1);
    prog.insert(prog.end(), b.begin(), b.end());
  }
  prog.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  prog.insert(prog.end(), check.begin(), check.end());
  return prog;
}

}  // namespace

PodFilter compile_nspawns_filter() {
  return with_context("compiling the pod's system call filter", [] {
    PodFilter f;
    f.arch = seccomp_arch_native();
    auto archs = local_architectures(f.arch);
    for (uint32_t arch : archs) f.programs.push_back(allow_list_program(arch));
    for (uint32_t arch : archs) {
      auto p = audit_program(arch);
      if (!p.empty()) f.programs.push_back(std::move(p));
    }
    return f;
  });
}

PodFilter compile_pod_filter() {
  PodFilter f = compile_nspawns_filter();
  with_context("compiling the pod's system call filter", [&] {
    for (uint32_t arch : local_architectures(f.arch)) {
      auto p = vsock_program(arch);
      if (!p.empty()) f.programs.push_back(std::move(p));
    }
    f.programs.push_back(personality_program(local_architectures(f.arch)));
  });
  return f;
}

namespace {

std::string body_of(const PodFilter& f) {
  std::string body;
  for (const auto& p : f.programs) {
    auto n = static_cast<uint32_t>(p.size());
    body.append(reinterpret_cast<const char*>(&n), sizeof n);
    body.append(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(sock_filter));
  }
  return body;
}

std::string sha256_hex(std::string_view data) {
  store::Sha256 h;
  h.update(data);
  return h.hex();
}

}  // namespace

void write_pod_filter(const PodFilter& f, const std::filesystem::path& path) {
  std::string body = body_of(f);
  std::string header = std::string(kMagic) + " arch=" + std::to_string(f.arch) +
                       " programs=" + std::to_string(f.programs.size()) + " sha256=" + sha256_hex(body) + "\n";
  fs::write_file_atomic(path, header + body, 0644);
}

PodFilter read_pod_filter(const std::filesystem::path& path) {
  return with_context("reading the pod's system call filter " + quote(path.string()), [&] {
    std::string bytes = fs::read_file(path);
    size_t eol = bytes.find('\n');
    if (bytes.compare(0, kMagic.size() + 1, std::string(kMagic) + " ") != 0 || eol == std::string::npos)
      throw Error("not a crt pod filter file");
    unsigned long arch = 0;
    size_t count = 0;
    char sum[65] = {};
    std::string header = bytes.substr(0, eol);
    const char* fields = header.c_str() + kMagic.size();
    if (std::sscanf(fields, " arch=%lu programs=%zu sha256=%64[0-9a-f]", &arch, &count, sum) != 3)
      throw Error("its header is malformed");
    std::string_view body = std::string_view(bytes).substr(eol + 1);
    if (sha256_hex(body) != sum) throw Error("it is corrupt (its sha256 does not match its header)");
    if (arch != seccomp_arch_native())
      throw Error("it is for another architecture (" + std::to_string(arch) + "; this is " +
                  std::to_string(seccomp_arch_native()) + ")");
    PodFilter f;
    f.arch = static_cast<uint32_t>(arch);
    size_t at = 0;
    while (at < body.size()) {
      uint32_t n = 0;
      if (body.size() - at < sizeof n) throw Error("truncated");
      std::memcpy(&n, body.data() + at, sizeof n);
      at += sizeof n;
      if (n == 0 || n > BPF_MAXINSNS) throw Error("a program of " + std::to_string(n) + " instructions");
      if ((body.size() - at) / sizeof(sock_filter) < n) throw Error("truncated");
      std::vector<sock_filter> p(n);
      std::memcpy(p.data(), body.data() + at, n * sizeof(sock_filter));
      at += n * sizeof(sock_filter);
      f.programs.push_back(std::move(p));
      if (f.programs.size() > kMaxPrograms) throw Error("more than " + std::to_string(kMaxPrograms) + " programs");
    }
    if (f.programs.size() != count || count == 0)
      throw Error("it holds " + std::to_string(f.programs.size()) + " programs, its header says " +
                  std::to_string(count));
    return f;
  });
}

std::filesystem::path pod_filter_path(const std::filesystem::path& data_dir) { return data_dir / "pod-seccomp.bpf"; }

std::optional<PodFilter> find_pod_filter(const std::filesystem::path& data_dir) {
  std::filesystem::path file = pod_filter_path(data_dir);
  if (!std::filesystem::exists(file)) return std::nullopt;
  return read_pod_filter(file);
}

int install_pod_filter(const PodFilter& f) noexcept {
  // A session keyring of its own, as nspawn gives its container before its
  // filter denies keyctl: the kernel's key lookups on the pod's behalf do
  // not reach crt's keys. Where keyrings are off or denied to crt itself
  // (crt in a container), there is none to leave, as nspawn also judges.
  if (::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr) < 0 && errno != ENOSYS && errno != EPERM &&
      errno != EACCES)
    return errno;
  for (const auto& p : f.programs) {
    sock_fprog prog{static_cast<unsigned short>(p.size()), const_cast<sock_filter*>(p.data())};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return errno;
  }
  return 0;
}

}  // namespace crt::sandbox
