#include <gtest/gtest.h>

#include "common/subprocess.hpp"

namespace crt {
namespace {

TEST(SystemPath, AddsTheDirectoriesAPathLacksAfterItsOwn) {
  EXPECT_EQ(with_system_path(""), kSystemPath);
  EXPECT_EQ(with_system_path("/usr/bin:/bin"), "/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin");
  EXPECT_EQ(with_system_path("/opt/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "/opt/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  // A directory is had only as a whole entry.
  EXPECT_EQ(with_system_path("/usr/binx"), "/usr/binx:" + std::string(kSystemPath));
}

}  // namespace
}  // namespace crt
