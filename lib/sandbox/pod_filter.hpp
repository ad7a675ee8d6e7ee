#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace crt::sandbox {

/// The system call filter over a whole pod: nspawn, the pod's systemd, its
/// journald and every app (each app adds its own SystemCallFilter= on top).
///
/// It is the filter systemd-nspawn installs for its container, for nspawn's
/// default capabilities: the same allow-list, EPERM for other system calls
/// systemd knows, ENOSYS for those it does not, and EAFNOSUPPORT for audit
/// sockets. nspawn compiles that filter with libseccomp for every pod, about
/// 36 ms of CPU here; crt compiles it once, at build time
/// (`lib/crt/pod-seccomp.bpf`), loads the programs before it executes nspawn,
/// and tells nspawn to skip its own (SYSTEMD_SECCOMP=0).
struct PodFilter {
  uint32_t arch = 0;                               ///< libseccomp's token of the native architecture
  std::vector<std::vector<sock_filter>> programs;  ///< loaded in this order
};

/// Compiles the filter nspawn 252 would for this machine's architectures,
/// one program each (x86-64: x86, x32 and x86-64), and the audit masks.
PodFilter compile_nspawns_filter();
/// nspawn's filter, then crt's own programs: they take vsock sockets, and
/// allow personality() only Docker's values.
PodFilter compile_pod_filter();

/// The file format: a line "crt-pod-seccomp 1 arch=N programs=N
/// sha256=HEX" (HEX of the rest), then per program its instruction count
/// (uint32, native byte order) and the instructions.
void write_pod_filter(const PodFilter& f, const std::filesystem::path& path);
/// Throws, naming the file, unless it is a whole filter file for this
/// machine's architecture.
PodFilter read_pod_filter(const std::filesystem::path& path);

/// Where crt's data directory keeps the filter.
std::filesystem::path pod_filter_path(const std::filesystem::path& data_dir);
/// The filter in crt's data directory, if it is there; without it, nspawn
/// compiles its own, the same.
std::optional<PodFilter> find_pod_filter(const std::filesystem::path& data_dir);

/// Gives the calling thread a session keyring of its own, then loads the
/// programs into it (inherited by its children and kept across execve).
/// Async-signal-safe: for a child after fork. Needs CAP_SYS_ADMIN or
/// no_new_privs. Returns 0 or an errno.
int install_pod_filter(const PodFilter& f) noexcept;

}  // namespace crt::sandbox
