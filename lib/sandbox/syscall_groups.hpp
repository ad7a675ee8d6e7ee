#pragma once

#include <map>
#include <string>
#include <vector>

#include "sandbox/seccomp.hpp"

namespace crt::sandbox {

/// systemd's system call groups ("@system-service" → names and @groups), as
/// the stage1 systemd knows them (generated at build time).
const std::map<std::string, std::vector<std::string>>& systemd_syscall_groups();

/// The system call names a filter's entries stand for, groups expanded
/// recursively; an allow-list also gets @default, as systemd adds it.
std::vector<std::string> expand_syscalls(const SyscallFilter& f);

}  // namespace crt::sandbox
