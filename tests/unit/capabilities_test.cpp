#include "sandbox/capabilities.hpp"

#include <sys/capability.h>

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace crt::sandbox {
namespace {

using Strings = std::vector<std::string>;

TEST(Capabilities, DefaultSetMatchesItsDocumentedMask) {
  uint64_t mask = 0;
  for (const auto& name : default_capabilities()) {
    cap_value_t v{};
    ASSERT_EQ(cap_from_name(name.c_str(), &v), 0) << name;
    mask |= 1ULL << v;
  }
  EXPECT_EQ(mask, 0xa80425fbULL) << "CapBnd 00000000a80425fb";
  EXPECT_EQ(default_capabilities().size(), 14u);
}

TEST(Capabilities, MaskOfNames) {
  EXPECT_EQ(capability_mask(default_capabilities()), 0xa80425fbULL);
  EXPECT_EQ(capability_mask({"chown", "CAP_SYS_ADMIN"}), (1ULL << CAP_CHOWN) | (1ULL << CAP_SYS_ADMIN));
  EXPECT_EQ(capability_mask({}), 0u);
  EXPECT_THROW(capability_mask({"bogus"}), Error);
}

TEST(Capabilities, Normalize) {
  EXPECT_EQ(normalize_capability("CAP_CHOWN"), "CAP_CHOWN");
  EXPECT_EQ(normalize_capability("cap_chown"), "CAP_CHOWN");
  EXPECT_EQ(normalize_capability("chown"), "CAP_CHOWN");
  EXPECT_EQ(normalize_capability("Net_Admin"), "CAP_NET_ADMIN");
  EXPECT_EQ(normalize_capability("sys_admin"), "CAP_SYS_ADMIN");
}

TEST(Capabilities, UnknownIsAnError) {
  for (const char* bad : {"", "cap_", "bogus", "cap_cap_chown", "all", "39"})
    EXPECT_THROW(normalize_capability(bad), Error) << "'" << bad << "'";
  try {
    normalize_capability("bogus");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown capability 'bogus'");
  }
}

// libcap's cap_from_name() accepts a known name followed by anything.
TEST(Capabilities, TrailingGarbageIsAnError) {
  for (const char* bad : {"chown kill", "CAP_CHOWN ", "chown,kill", "chown+ep", "chown=ep", "chown\tkill"})
    EXPECT_THROW(normalize_capability(bad), Error) << "'" << bad << "' -> '" << normalize_capability(bad) << "'";
  EXPECT_THROW(resolve_capabilities("chown kill", {}), Error);
}

TEST(Capabilities, ResolveDefault) { EXPECT_EQ(resolve_capabilities({}, {}), default_capabilities()); }

TEST(Capabilities, RetainReplacesTheDefault) {
  EXPECT_EQ(resolve_capabilities("chown,CAP_KILL,net_admin", {}), (Strings{"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"}));
  EXPECT_TRUE(resolve_capabilities("", {}).empty()) << "an empty list keeps nothing";
  EXPECT_EQ(resolve_capabilities(",chown,", {}), Strings{"CAP_CHOWN"});
}

TEST(Capabilities, RemoveDropsFromTheDefault) {
  Strings caps = resolve_capabilities({}, "kill,CAP_NET_RAW,sys_admin");
  Strings expected = default_capabilities();
  std::erase(expected, "CAP_KILL");
  std::erase(expected, "CAP_NET_RAW");
  EXPECT_EQ(caps, expected);
}

TEST(Capabilities, RetainAndRemoveTogetherIsAnError) {
  EXPECT_THROW(resolve_capabilities("chown", "kill"), Error);
}

TEST(Capabilities, UnknownInAListIsAnError) {
  EXPECT_THROW(resolve_capabilities("chown,bogus", {}), Error);
  EXPECT_THROW(resolve_capabilities({}, "bogus"), Error);
}

}  // namespace
}  // namespace crt::sandbox
