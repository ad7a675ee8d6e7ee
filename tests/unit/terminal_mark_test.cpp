#include "pod/terminal_mark.hpp"

#include <gtest/gtest.h>

#include <string>

namespace crt::pod {
namespace {

TEST(TerminalMark, IsAnOscSequenceWithItsToken) {
  EXPECT_EQ(terminal_mark("0A1B"), "\x1b]7701;CRT-END;0A1B\a");
  std::string token = new_terminal_mark_token();
  EXPECT_EQ(token.size(), 16u);
  EXPECT_EQ(token.find_first_not_of("0123456789ABCDEF"), std::string::npos) << token;
  EXPECT_NE(token, new_terminal_mark_token());
}

TEST(TerminalMark, IsTakenOutOfTheOutputAndItsTokenKept) {
  TerminalMarks marks;
  EXPECT_EQ(marks.take("last line\r\n" + terminal_mark("ABC123") + "after"), "last line\r\nafter");
  EXPECT_FALSE(marks.seen("ABC12"));
  EXPECT_TRUE(marks.seen("ABC123"));
  EXPECT_FALSE(marks.seen("ABC123")) << "a token is asked for once";
}

TEST(TerminalMark, SplitAtEveryByteIsStillFound) {
  std::string mark = terminal_mark("0123456789ABCDEF");
  std::string text = "\x1b[1mbold\x1b[0m\r\n" + mark + "\x1b]7;file:///root\a$ ";
  std::string expected = "\x1b[1mbold\x1b[0m\r\n\x1b]7;file:///root\a$ ";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    TerminalMarks marks;
    std::string out = marks.take(text.substr(0, cut));
    out += marks.take(text.substr(cut));
    out += marks.release();
    EXPECT_EQ(out, expected) << "cut at " << cut;
    EXPECT_TRUE(marks.seen("0123456789ABCDEF")) << "cut at " << cut;
  }
  TerminalMarks bytewise;
  std::string out;
  for (char c : text) out += bytewise.take(std::string(1, c));
  EXPECT_EQ(out, expected);
  EXPECT_TRUE(bytewise.seen("0123456789ABCDEF"));
}

TEST(TerminalMark, WhatOnlyLooksLikeOneIsShownAsItIs) {
  TerminalMarks marks;
  std::string start(kTerminalMarkStart);
  // No token, a lower-case one, a token too long, no end.
  std::string text = start + "\a" + start + "abc\a" + start + std::string(kTerminalMarkTokenMax + 1, 'A') + "\a" +
                     start + "12 \x1b\x1b]77x\x1b";
  std::string out = marks.take(text);
  EXPECT_EQ(out, text.substr(0, text.size() - 1)) << "only the last ESC may still start one";
  EXPECT_EQ(marks.release(), "\x1b");
  EXPECT_EQ(marks.release(), "");
  EXPECT_FALSE(marks.seen(""));
}

TEST(TerminalMark, AStartHeldBackIsShownWithTheNextChunk) {
  TerminalMarks marks;
  EXPECT_EQ(marks.take("prompt \x1b]77"), "prompt ");
  EXPECT_EQ(marks.take("0;title\a"), "\x1b]770;title\a");
}

TEST(TerminalMark, OnlyTheLatestTokensAreKept) {
  TerminalMarks marks;
  for (int i = 0; i < 100; ++i) marks.take(terminal_mark(std::to_string(i)));
  EXPECT_FALSE(marks.seen("0"));
  EXPECT_TRUE(marks.seen("99"));
}

}  // namespace
}  // namespace crt::pod
