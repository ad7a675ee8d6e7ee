#include "cgroup/device_filter.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace crt::cgroup {

namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// The registers the program keeps: the device's type, the access asked for,
// its major and its minor (struct bpf_cgroup_dev_ctx); r1, the context, is
// free once they are read.
constexpr uint8_t kCtx = 1, kType = 2, kAccess = 3, kMajor = 4, kMinor = 5, kScratch = 1, kResult = 0;

bpf_insn load_u32(uint8_t dst, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, kCtx, off, 0); }
bpf_insn alu32_imm(uint8_t op, uint8_t dst, int32_t imm) { return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
bpf_insn mov32_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm); }
bpf_insn mov64_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

long bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

}  // namespace

std::vector<DeviceRule> pod_device_rules() {
  const unsigned all = kMknod | kRead | kWrite;
  std::vector<DeviceRule> rules = {
      {'c', 1, 3, all},    {'c', 1, 5, all}, {'c', 1, 7, all}, {'c', 1, 8, all},  // null, zero, full, random
      {'c', 1, 9, all},    {'c', 5, 0, all}, {'c', 5, 2, all},                    // urandom, tty, ptmx
      {'c', 0, 0, all},    {'b', 0, 0, all},                                      // systemd's inaccessible nodes
      {'c', 10, 200, all},                                                        // net/tun
  };
  for (uint32_t major = 136; major <= 143; ++major) rules.push_back({'c', major, std::nullopt, kRead | kWrite});  // pts
  return rules;
}

std::vector<bpf_insn> device_filter_program(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> p = {
      load_u32(kType, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32_imm(BPF_AND, kType, 0xffff),
      load_u32(kAccess, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32_imm(BPF_RSH, kAccess, 16),
      load_u32(kMajor, offsetof(bpf_cgroup_dev_ctx, major)),
      load_u32(kMinor, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (const auto& r : rules) {
    // A block of jumps to its end when the device is not this rule's,
    // then "allow".
    std::vector<bpf_insn> block;
    std::vector<size_t> to_next;  // the jumps whose offset is the block's end
    auto jump_if_not = [&](uint8_t reg, int32_t value) {
      to_next.push_back(block.size());
      block.push_back(jne_imm(reg, value, 0));
    };
    jump_if_not(kType, r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    // Only access this rule allows: (asked & ~allowed) == 0.
    block.push_back(mov32_reg(kScratch, kAccess));
    block.push_back(alu32_imm(BPF_AND, kScratch, static_cast<int32_t>(~r.access & 0x7)));
    jump_if_not(kScratch, 0);
    if (r.major) jump_if_not(kMajor, static_cast<int32_t>(*r.major));
    if (r.minor) jump_if_not(kMinor, static_cast<int32_t>(*r.minor));
    block.push_back(mov64_imm(kResult, 1));
    block.push_back(exit_insn());
    for (size_t j : to_next) block[j].off = static_cast<int16_t>(block.size() - (j + 1));
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(mov64_imm(kResult, 0));
  p.push_back(exit_insn());
  return p;
}

void attach_device_filter(int cgroup_dir, const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> program = device_filter_program(rules);
  static const char kLicense[] = "GPL";
  bpf_attr load{};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(program.data());
  load.insn_cnt = static_cast<uint32_t>(program.size());
  load.license = reinterpret_cast<uint64_t>(kLicense);
  std::strncpy(load.prog_name, "crt_devices", sizeof load.prog_name - 1);
  UniqueFd prog(static_cast<int>(bpf(BPF_PROG_LOAD, load)));
  if (!prog) throw_errno("loading the pod's device filter (BPF)");
  bpf_attr attach{};
  attach.target_fd = static_cast<uint32_t>(cgroup_dir);
  attach.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, attach) < 0) throw_errno("attaching the pod's device filter to its cgroup");
}

}  // namespace crt::cgroup
