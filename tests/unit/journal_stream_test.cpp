#include "runtime/journal_stream.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "common/fd.hpp"

namespace crt::runtime {
namespace {

TEST(NextSend, EndsAtALineUnlessAllFitsOrTheLineIsLonger) {
  EXPECT_EQ(next_send("abc\ndef", 16), "abc\ndef");  // fits: whole, as it is
  EXPECT_EQ(next_send("ab\ncd\nef", 7), "ab\ncd\n");
  EXPECT_EQ(next_send("ab\ncd\nef", 6), "ab\ncd\n");
  EXPECT_EQ(next_send("ab\ncd\nef", 5), "ab\n");
  EXPECT_EQ(next_send("abcdefgh\nij", 4), "abcdefgh\n");  // a longer line: whole
  EXPECT_EQ(next_send("abcdefgh", 4), "abcdefgh");
  EXPECT_EQ(next_send("", 4), "");
}

TEST(WholeSendSize, IsHalfTheSendBufferAtMost32KiB) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  EXPECT_EQ(whole_send_size(a.get()), 32U * 1024);  // the default buffer, ~208 KiB
  int small = 8192;                                 // the kernel doubles it
  ASSERT_EQ(::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  EXPECT_EQ(whole_send_size(a.get()), 8192U - 64);
  // A send of that much is taken whole or not at all.
  std::string data(whole_send_size(a.get()), 'x');
  for (int i = 0; i < 100; ++i) {
    ssize_t n = ::send(a.get(), data.data(), data.size(), MSG_DONTWAIT);
    if (n < 0) break;
    ASSERT_EQ(static_cast<size_t>(n), data.size()) << "send " << i;
  }
}

}  // namespace
}  // namespace crt::runtime
