// The cgroup v2 device filter crt attaches where nothing else restricts a
// pod's devices: its program, checked without loading it (the host tests
// load it and see it deny).

#include "cgroup/device_filter.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace crt::cgroup {
namespace {

/// Runs the program over one device, as the kernel would.
int run(const std::vector<bpf_insn>& p, uint32_t type, uint32_t access, uint32_t major, uint32_t minor) {
  uint64_t r[11] = {};
  bpf_cgroup_dev_ctx ctx{(access << 16) | type, major, minor};
  for (size_t pc = 0; pc < p.size(); ++pc) {
    const bpf_insn& i = p[pc];
    uint8_t cls = BPF_CLASS(i.code), op = BPF_OP(i.code);
    if (cls == BPF_LDX) {
      uint32_t v = 0;
      std::memcpy(&v, reinterpret_cast<const char*>(&ctx) + i.off, 4);
      r[i.dst_reg] = v;
    } else if (cls == BPF_ALU || cls == BPF_ALU64) {
      uint64_t src = BPF_SRC(i.code) == BPF_X ? r[i.src_reg] : static_cast<uint64_t>(static_cast<int64_t>(i.imm));
      uint64_t& d = r[i.dst_reg];
      if (op == BPF_MOV)
        d = src;
      else if (op == BPF_AND)
        d &= src;
      else if (op == BPF_RSH)
        d >>= src;
      else
        ADD_FAILURE() << "unexpected ALU op at " << pc;
      if (cls == BPF_ALU) d &= 0xffffffff;
    } else if (cls == BPF_JMP && op == BPF_EXIT) {
      return static_cast<int>(r[0]);
    } else if (cls == BPF_JMP && op == BPF_JNE) {
      if (r[i.dst_reg] != static_cast<uint64_t>(static_cast<uint32_t>(i.imm))) pc += i.off;
      EXPECT_LT(pc + 1, p.size()) << "a jump past the end";
    } else {
      ADD_FAILURE() << "unexpected instruction at " << pc;
      return -1;
    }
  }
  ADD_FAILURE() << "ran off the end";
  return -1;
}

constexpr uint32_t kChar = BPF_DEVCG_DEV_CHAR, kBlock = BPF_DEVCG_DEV_BLOCK;

TEST(DeviceFilter, AllowsThePodsDevicesAndNothingElse) {
  auto p = device_filter_program(pod_device_rules());
  EXPECT_EQ(run(p, kChar, kRead | kWrite, 1, 3), 1);       // /dev/null
  EXPECT_EQ(run(p, kChar, kMknod, 1, 9), 1);               // mknod /dev/urandom
  EXPECT_EQ(run(p, kChar, kRead | kWrite, 10, 200), 1);    // /dev/net/tun
  EXPECT_EQ(run(p, kChar, kRead | kWrite, 136, 7), 1);     // a pty
  EXPECT_EQ(run(p, kChar, kRead | kWrite, 143, 1000), 1);  // the last pty major
  EXPECT_EQ(run(p, kChar, kMknod, 136, 7), 0);             // ptys are devpts', not to make
  EXPECT_EQ(run(p, kChar, kRead, 10, 229), 0);             // /dev/fuse
  EXPECT_EQ(run(p, kChar, kRead, 1, 11), 0);               // /dev/kmsg
  EXPECT_EQ(run(p, kChar, kRead, 1, 1), 0);                // /dev/mem
  EXPECT_EQ(run(p, kBlock, kRead, 8, 0), 0);               // a disk
  EXPECT_EQ(run(p, kBlock, kMknod, 1, 3), 0);              // a block device numbered as /dev/null
  EXPECT_EQ(run(p, kBlock, kMknod | kRead, 0, 0), 1);      // systemd's inaccessible node
}

TEST(DeviceFilter, AnyMinorAndAccessSubsets) {
  auto p = device_filter_program({{'b', 7, std::nullopt, kRead}});
  EXPECT_EQ(run(p, kBlock, kRead, 7, 42), 1);
  EXPECT_EQ(run(p, kBlock, kRead | kWrite, 7, 42), 0);
  EXPECT_EQ(run(p, kChar, kRead, 7, 42), 0);
  EXPECT_EQ(run(device_filter_program({}), kChar, kRead, 1, 3), 0);  // no rules: nothing
}

}  // namespace
}  // namespace crt::cgroup
