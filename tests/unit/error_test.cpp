#include "common/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace crt {
namespace {

TEST(Error, ContextIsPrependedOutermostFirst) {
  try {
    with_context("starting pod 'web'", [] {
      with_context("mounting '/x'", [] { throw Error("Permission denied"); });
    });
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "starting pod 'web': mounting '/x': Permission denied");
  }
}

TEST(Error, SystemErrorCarriesErrnoAndItsMessage) {
  try {
    throw_errno(ENOENT, "opening 'a'");
  } catch (const SystemError& e) {
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_STREQ(e.what(), "opening 'a': No such file or directory");
  }
}

TEST(Error, WithContextTurnsSystemErrorIntoError) {
  EXPECT_THROW(with_context("ctx", [] { throw_errno(EPERM, "x"); }), Error);
}

TEST(Error, WithContextReturnsTheBodysValue) {
  EXPECT_EQ(with_context("ctx", [] { return 42; }), 42);
}

TEST(Error, QuoteWrapsInSingleQuotes) {
  EXPECT_EQ(quote("a b"), "'a b'");
  EXPECT_EQ(quote(""), "''");
}

TEST(Error, QuoteKeepsAValueOnOneLine) {
  EXPECT_EQ(quote("a\nb\tc\x1b[0m\x7f"), "'a\\nb\\tc\\x1b[0m\\x7f'");
  EXPECT_EQ(quote("back\\slash \xc3\xa9"), "'back\\slash \xc3\xa9'");  // UTF-8 and backslashes as they are
}

TEST(Error, DocumentedExitCodeIs254) { EXPECT_EQ(kErrorExitCode, 254); }

}  // namespace
}  // namespace crt
