#include "common/late_library.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt {
namespace {

using test::error_of;

TEST(LateLibrary, ResolvesFunctionsOfALibraryOpenedLate) {
  LateLibrary lib("libc.so.6", "test itself", "libc6");
  auto strlen_fn = lib.resolve<decltype(&::strlen)>("strlen");
  EXPECT_EQ(strlen_fn("four"), 4u);
}

TEST(LateLibrary, AMissingLibrarySaysWhatNeedsItAndWhereItComesFrom) {
  std::string e = error_of([] { LateLibrary lib("libcrt-no-such-library.so.7", "test itself", "crt-nothing"); });
  EXPECT_NE(e.find("loading libcrt-no-such-library.so.7, which crt needs to test itself: "), std::string::npos) << e;
  EXPECT_NE(e.find("(install Debian's crt-nothing)"), std::string::npos) << e;
}

TEST(LateLibrary, AMissingFunctionNamesTheLibrary) {
  std::string e = error_of([] {
    LateLibrary lib("libc.so.6", "test itself", "libc6");
    lib.symbol("crt_no_such_function");
  });
  EXPECT_EQ(e, "libc.so.6 has no crt_no_such_function: it is not a version crt can use");
}

}  // namespace
}  // namespace crt
