#include "sandbox/seccomp.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "../support/x86_abi.hpp"
#include "common/error.hpp"
#include "sandbox/syscall_groups.hpp"
#include "test_support.hpp"

namespace crt::sandbox {
namespace {

using Strings = std::vector<std::string>;

std::string error_of(std::string_view spec) {
  return test::error_of([&] { parse_syscall_filter(spec); });
}

TEST(Seccomp, DefaultFilterIsAnAllowList) {
  SyscallFilter f = default_syscall_filter();
  EXPECT_TRUE(f.allow_list);
  EXPECT_EQ(f.entries, (Strings{"@system-service", "@pkey", "chroot", "seccomp"}));
  EXPECT_EQ(f.error_number, "EPERM");
}

TEST(Seccomp, AppsLeaveOutOnlyTheArchitecturesTheKernelCannotRun) {
  Strings archs = kernel_syscall_architectures();
#if defined(__x86_64__)
  std::string expected = test::expected_syscall_architectures();
  std::string got;
  for (const auto& a : archs) got += (got.empty() ? "" : " ") + a;
  EXPECT_EQ(got, expected);
#else
  EXPECT_TRUE(archs.empty());
#endif
}

// Where int $0x80 faults (no IA32 emulation), the probe's child ends by an
// exit: a SIGSEGV would leave its core in the current directory at every
// pod's start, under a core limit such as systemd gives its services.
// (Elsewhere it never faults, and the test shows nothing.)
TEST(Seccomp, TheArchitectureProbeLeavesNoCoreDump) {
  if (test::read_text("/proc/sys/kernel/core_pattern").rfind("core", 0) != 0)
    GTEST_SKIP() << "core dumps go elsewhere than the current directory here";
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_CORE, &before), 0);
  if (before.rlim_max == 0) GTEST_SKIP() << "no core dumps may be enabled here";
  test::Scratch s;
  std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(s.path());
  rlimit dumps{before.rlim_max, before.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &dumps), 0);
  (void)kernel_syscall_architectures();
  ::setrlimit(RLIMIT_CORE, &before);
  std::filesystem::current_path(cwd);
  EXPECT_TRUE(test::list_dir(s.path()).empty());
}

TEST(Seccomp, ParseRetain) {
  SyscallFilter f = parse_syscall_filter("mode=retain,@basic-io,read,write");
  EXPECT_TRUE(f.allow_list);
  EXPECT_EQ(f.entries, (Strings{"@basic-io", "read", "write"}));
  EXPECT_EQ(f.error_number, "EPERM");
}

TEST(Seccomp, ParseRemoveWithErrno) {
  SyscallFilter f = parse_syscall_filter("reboot,mode=remove,errno=EACCES,@mount");
  EXPECT_FALSE(f.allow_list);
  EXPECT_EQ(f.entries, (Strings{"reboot", "@mount"}));
  EXPECT_EQ(f.error_number, "EACCES");
}

TEST(Seccomp, ParseErrors) {
  EXPECT_EQ(error_of("read"), "parsing --seccomp 'read': missing mode=retain or mode=remove");
  EXPECT_EQ(error_of("mode=allow,read"), "parsing --seccomp 'mode=allow,read': mode must be 'retain' or 'remove'");
  EXPECT_EQ(error_of("mode=retain"), "parsing --seccomp 'mode=retain': no system calls given");
  EXPECT_EQ(error_of("mode=retain,notasyscall"), "parsing --seccomp 'mode=retain,notasyscall': unknown system call 'notasyscall'");
  EXPECT_EQ(error_of("mode=retain,@nope"), "parsing --seccomp 'mode=retain,@nope': unknown system call group '@nope'");
  EXPECT_EQ(error_of("mode=retain,errno=EBOGUS,read"),
            "parsing --seccomp 'mode=retain,errno=EBOGUS,read': unknown errno name 'EBOGUS'");
  EXPECT_EQ(error_of("mode=retain,,read"), "parsing --seccomp 'mode=retain,,read': empty system call name");
  EXPECT_NE(error_of(""), "(no error)");
  EXPECT_NE(error_of("mode=retain,read "), "(no error)");
  EXPECT_NE(error_of("mode=retain,READ"), "(no error)");
  EXPECT_NE(error_of("mode=retain,@"), "(no error)");
  EXPECT_NE(error_of("mode=retain,~read"), "(no error)") << "negation is what mode=remove is for";
}

TEST(Seccomp, ValidateEntry) {
  for (const char* ok : {"read", "openat2", "clone3", "@default", "@system-service", "@known"})
    EXPECT_NO_THROW(validate_syscall_entry(ok)) << ok;
  for (const char* bad : {"", "@", "@System-Service", "sys_read", "read;", "@default,@mount"})
    EXPECT_THROW(validate_syscall_entry(bad), Error) << bad;
}

/// Group names as the host's systemd lists them.
std::set<std::string> host_groups(const std::filesystem::path& analyze) {
  auto r = test::run_command({analyze.string(), "syscall-filter", "--no-pager"});
  std::set<std::string> out;
  if (r.status != 0) return out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind('@', 0) == 0) out.insert(line);
  return out;
}

TEST(Seccomp, CompiledInGroupsAreTheHostSystemds) {
  auto analyze = test::find_program("systemd-analyze");
  if (!analyze) GTEST_SKIP() << "systemd-analyze is not installed: cannot ask systemd which groups it knows";
  std::set<std::string> host = host_groups(*analyze);
  ASSERT_FALSE(host.empty()) << "systemd-analyze syscall-filter listed no groups";
  std::set<std::string> ours;
  for (const auto& [g, members] : systemd_syscall_groups()) {
    ours.insert(g);
    EXPECT_FALSE(members.empty()) << g;
    EXPECT_NO_THROW(validate_syscall_entry(g)) << g;
  }
  EXPECT_EQ(ours, host);
}

TEST(Seccomp, ExpandingAFilterFollowsNestedGroups) {
  auto names = expand_syscalls({true, {"@system-service"}, "EPERM", {}});
  auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("read"));     // @basic-io inside @system-service
  EXPECT_TRUE(has("execve"));   // @default, added to every allow-list
  EXPECT_FALSE(has("reboot"));
  EXPECT_FALSE(has("mount"));
  for (const auto& n : names) EXPECT_NE(n.front(), '@') << n;
  auto deny = expand_syscalls({false, {"@reboot"}, "EPERM", {}});
  EXPECT_TRUE(std::find(deny.begin(), deny.end(), "reboot") != deny.end());
  EXPECT_TRUE(std::find(deny.begin(), deny.end(), "execve") == deny.end());
}

// What an allow list takes back is gone from it (crt enter builds the
// app's filter from the expansion), also when a group brought it in.
TEST(Seccomp, TheDefaultTakesBackIoUringAndCrossProcessMemoryCalls) {
  auto names = expand_syscalls(default_syscall_filter());
  auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("read"));
  for (const char* n : {"io_uring_setup", "io_uring_enter", "process_vm_readv", "userfaultfd"})
    EXPECT_FALSE(has(n)) << n;
  // Taken back, not merely absent: the groups hold them.
  auto service = expand_syscalls({true, {"@system-service"}, "EPERM", {}});
  EXPECT_NE(std::find(service.begin(), service.end(), "io_uring_setup"), service.end());
}

TEST(Seccomp, HostGroupsCrtRejectsAreOnlyNewerOnes) {
  auto analyze = test::find_program("systemd-analyze");
  if (!analyze) GTEST_SKIP() << "systemd-analyze is not installed";
  // Groups added after systemd 252; crt refuses them so that a pod file
  // stays valid on every supported host.
  const std::set<std::string> kNewer = {"@sandbox"};
  for (const auto& g : host_groups(*analyze)) {
    if (kNewer.count(g)) continue;
    EXPECT_NO_THROW(validate_syscall_entry(g)) << g << " is known to systemd but refused by crt";
  }
}

TEST(Seccomp, DefaultFilterEntriesAreValid) {
  for (const auto& e : default_syscall_filter().entries) EXPECT_NO_THROW(validate_syscall_entry(e)) << e;
}

}  // namespace
}  // namespace crt::sandbox
