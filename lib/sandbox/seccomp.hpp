#pragma once

#include <linux/filter.h>
#include <seccomp.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crt::sandbox {

/// A system call filter in systemd's terms (SystemCallFilter=).
struct SyscallFilter {
  bool allow_list = true;            ///< retain the listed calls (false: remove them)
  std::vector<std::string> entries;  ///< syscall names and @groups
  std::string error_number = "EPERM";
  /// Taken back from an allow list (a second SystemCallFilter=~ line):
  /// calls its groups hold that it still denies.
  std::vector<std::string> removed;
};

/// The default filter: ordinary software (shells, busybox, coreutils, nginx)
/// runs; reboot, kexec, modules, mount, swap, clock, raw I/O and debugging
/// calls fail with EPERM, and so do io_uring (its operations bypass the
/// filter), userfaultfd and process_vm_readv/writev, as with Docker.
SyscallFilter default_syscall_filter();

/// Parses "mode=retain|remove[,errno=NAME],ENTRY,…". Every syscall name is
/// checked with libseccomp and every @group against systemd's groups.
SyscallFilter parse_syscall_filter(std::string_view spec);

/// What the apps' SystemCallArchitectures= are to be on this kernel; empty:
/// no such setting, so systemd builds the apps' filters for every
/// architecture it knows (on x86-64: x86-64, x86 and x32), as by default.
/// It builds and loads each at every app start: about 5 ms for x86 and
/// 12 ms for x32 here. An architecture whose programs the kernel cannot run
/// is left out: x86 where int $0x80 faults (no IA32 emulation: no filter
/// ever sees such a call), x32 where its system calls fail with ENOSYS (no
/// x32 ABI). Left out, x32 calls are refused by the filter instead: the
/// caller is killed (SIGSYS), as under systemd's own services with
/// SystemCallArchitectures=native.
std::vector<std::string> kernel_syscall_architectures();

/// Throws unless `name` is a system call libseccomp knows or a systemd group.
void validate_syscall_entry(std::string_view name);

/// The BPF program libseccomp makes of `ctx`, to load with
/// prctl(PR_SET_SECCOMP) where libseccomp cannot run (after fork).
std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx);

/// Adds `architectures` (SystemCallArchitectures= names; "native" is there
/// already) to `ctx`; none: every architecture systemd filters by default.
void add_filter_architectures(scmp_filter_ctx ctx, std::vector<std::string> architectures);

/// The namespace types an app may make (systemd's RestrictNamespaces=
/// names: cgroup, ipc, mnt, net, pid, user, uts); nullopt: any.
using AllowedNamespaces = std::optional<std::vector<std::string>>;

/// --allow-namespaces: "all", "none", or types, comma-separated.
AllowedNamespaces parse_allowed_namespaces(std::string_view spec);

/// Without --allow-namespaces: none for an app without CAP_SYS_ADMIN in
/// `capabilities`, else any. A user namespace would give the app every
/// capability there, and the kernel's code behind them to attack; Docker's
/// and podman's default filters refuse namespaces the same way.
AllowedNamespaces default_allowed_namespaces(const std::vector<std::string>& capabilities);

/// RestrictNamespaces= as systemd builds it, allowing `allowed`: unshare(2)
/// and clone(2) with the flag of another type, and setns(2) into one (or
/// with no type), fail with EPERM; clone3(2) with ENOSYS (its flags are out
/// of a filter's reach; libc then uses clone(2)).
std::vector<sock_filter> namespace_filter_program(const std::vector<std::string>& architectures,
                                                  const std::vector<std::string>& allowed);

}  // namespace crt::sandbox
