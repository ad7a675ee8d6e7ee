#include "common/strings.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace crt {
namespace {

using Strings = std::vector<std::string>;

TEST(Trim, TakesOnlyTheCharactersGivenFromBothEnds) {
  EXPECT_EQ(trim(" \tkey = v a l\t ", " \t"), "key = v a l");
  EXPECT_EQ(trim("value\r", " \t"), "value\r");
  EXPECT_EQ(trim(" value\r\t", " \t\r"), "value");
  EXPECT_EQ(trim("\nvalue\n", " \t"), "\nvalue\n");
  EXPECT_EQ(trim("x", " \t"), "x");
}

TEST(Trim, NothingButTrimmedCharactersIsEmpty) {
  EXPECT_EQ(trim("", " \t"), "");
  EXPECT_EQ(trim(" \t \t", " \t"), "");
}

TEST(TrimEnd, LeavesTheStartAsItIs) {
  EXPECT_EQ(trim_end(" abc \n\n", " \n"), " abc");
  EXPECT_EQ(trim_end("abc\t\n", " \n"), "abc\t");
  EXPECT_EQ(trim_end("abc\r\n", "\n"), "abc\r");
  EXPECT_EQ(trim_end("\n\n", "\n"), "");
  EXPECT_EQ(trim_end("", "\n"), "");
}

TEST(TrimStart, LeavesTheEndAsItIs) {
  EXPECT_EQ(trim_start(" \t abc \t", " \t"), "abc \t");
  EXPECT_EQ(trim_start("\nabc", " \t"), "\nabc");
  EXPECT_EQ(trim_start("\t\r\nabc", "\t\n"), "\r\nabc");
  EXPECT_EQ(trim_start(" \t ", " \t"), "");
  EXPECT_EQ(trim_start("", " "), "");
}

TEST(Split, KeepsEmptyFields) {
  EXPECT_EQ(split("a,b,c", ','), (Strings{"a", "b", "c"}));
  EXPECT_EQ(split("a,,b", ','), (Strings{"a", "", "b"}));
  EXPECT_EQ(split(",a,", ','), (Strings{"", "a", ""}));
  EXPECT_EQ(split("a", ','), (Strings{"a"}));
  EXPECT_EQ(split("", ','), (Strings{""}));
  EXPECT_EQ(split(",", ','), (Strings{"", ""}));
  EXPECT_EQ(split("root:x:0:0::/root:/bin/sh", ':'), (Strings{"root", "x", "0", "0", "", "/root", "/bin/sh"}));
}

TEST(Words, DropsEmptyOnes) {
  EXPECT_EQ(words("  nameserver\t 10.0.0.1  "), (Strings{"nameserver", "10.0.0.1"}));
  EXPECT_EQ(words(""), Strings{});
  EXPECT_EQ(words(" \t\n\v\f\r"), Strings{});
  EXPECT_EQ(words("a,, b\t,c", " \t,"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(words("a\rb", " \t,"), (Strings{"a\rb"}));
}

TEST(Words, SplitsWhereAStreamsShiftOperatorDoes) {
  for (const char* text : {"cpu io  memory\n", "\tx\vy\fz\r\n", "one", " ", "é\xa0 ü"}) {
    std::istringstream in(text);
    Strings by_stream;
    for (std::string w; in >> w;) by_stream.push_back(w);
    EXPECT_EQ(words(text), by_stream) << text;
  }
}

TEST(Join, PutsTheSeparatorBetweenItems) {
  EXPECT_EQ(join({"a", "b", "c"}, ","), "a,b,c");
  EXPECT_EQ(join({"a"}, " "), "a");
  EXPECT_EQ(join({}, " "), "");
  EXPECT_EQ(join({"a", "", "b"}, ","), "a,,b");
  EXPECT_EQ(join({"", "a"}, ","), "a");
}

TEST(FormatTable, ColumnsAreAsWideAsTheirWidestCell) {
  EXPECT_EQ(
      format_table({{"NAME", "SIZE", "CREATED"}, {"a-long-name", "1 KB", "x"}, {"ü", "10.5 MB", ""}}, {false, true}),
      "NAME            SIZE  CREATED\n"
      "a-long-name     1 KB  x\n"
      "ü            10.5 MB\n");
  EXPECT_EQ(format_table({}), "");
}

// A value an image or a pod gave (an image's "created") can neither start a
// row of its own nor reach the terminal as an escape sequence.
TEST(FormatTable, ControlCharactersOfACellAreEscaped) {
  EXPECT_EQ(format_table({{"NAME", "CREATED"}, {"a", "2024\x1b[31mRED\nfake  row"}}),
            "NAME  CREATED\n"
            "a     2024\\x1b[31mRED\\nfake  row\n");
}

}  // namespace
}  // namespace crt
