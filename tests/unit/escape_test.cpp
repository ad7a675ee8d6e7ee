#include "unit/escape.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::unit {
namespace {

using namespace std::string_literals;

// --- escape_value: single-line settings ------------------------------------

TEST(EscapeValue, PlainTextIsKept) {
  EXPECT_EQ(escape_value("App web of pod 1234"), "App web of pod 1234");
  EXPECT_EQ(escape_value("a\"b'c$d;e=f#g"), "a\"b'c$d;e=f#g") << "quotes and '$' mean nothing here";
  EXPECT_EQ(escape_value(""), "");
}

TEST(EscapeValue, PercentIsDoubled) {
  EXPECT_EQ(escape_value("100%"), "100%%");
  EXPECT_EQ(escape_value("%i%%"), "%%i%%%%");
}

TEST(EscapeValue, ExplicitSpecifierStaysSingle) {
  EXPECT_EQ(escape_value(Value("app %") + Specifier{'i'} + Value("!")), "app %%%i!");
}

TEST(EscapeValue, VerbatimPercentStaysSingle) {
  EXPECT_EQ(escape_value(Verbatim{"150%"}), "150%");
  EXPECT_EQ(escape_value(Value("a%") + Verbatim{"b%"}), "a%%b%");
}

TEST(EscapeValue, InvalidSpecifierLetterThrows) {
  EXPECT_THROW(escape_value(Specifier{'%'}), Error);
  EXPECT_THROW(escape_value(Specifier{'1'}), Error);
  EXPECT_THROW(escape_value(Specifier{' '}), Error);
}

TEST(EscapeValue, BackslashInsideIsLiteral) { EXPECT_EQ(escape_value("a\\nb\\"s + "c"), "a\\nb\\c"); }

TEST(EscapeValue, UtfEightIsKept) { EXPECT_EQ(escape_value("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93"); }

TEST(EscapeValue, NewlineIsAnError) {
  EXPECT_THROW(escape_value("two\nlines"), Error);
  EXPECT_THROW(escape_value("trailing\n"), Error);
}

TEST(EscapeValue, OtherControlCharactersAreErrors) {
  EXPECT_THROW(escape_value("a\rb"), Error);
  EXPECT_THROW(escape_value("a\tb"), Error);
  EXPECT_THROW(escape_value("a\x01"), Error);
  EXPECT_THROW(escape_value("a\x7f"), Error);
  EXPECT_THROW(escape_value("a\0b"s), Error);
  EXPECT_THROW(escape_value(Verbatim{"1\n"}), Error);
}

TEST(EscapeValue, LeadingOrTrailingSpaceIsAnError) {
  EXPECT_THROW(escape_value(" lead"), Error);
  EXPECT_THROW(escape_value("trail "), Error);
  EXPECT_THROW(escape_value(" "), Error);
  EXPECT_NO_THROW(escape_value("in side"));
}

TEST(EscapeValue, TrailingBackslashIsAnError) {
  // systemd would read it as a line continuation.
  EXPECT_THROW(escape_value("dir\\"), Error);
  EXPECT_THROW(escape_value(Verbatim{"x\\"}), Error);
}

TEST(EscapeValue, ErrorMessageQuotesTheValue) {
  try {
    escape_value("bad\nvalue");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'bad\\nvalue'"), std::string::npos) << e.what();
  }
}

// systemd ignores an assignment that is not valid UTF-8 ("String is not UTF-8
// clean, ignoring assignment") and a unit with such a line fails to load;
// a plain value has no escape, so the only safe answer is an error.
TEST(EscapeValue, InvalidUtfEightIsAnError) {
  EXPECT_THROW(escape_value("/data/\xff"), Error);
  EXPECT_THROW(escape_value("caf\xc3"), Error);
}

// --- escape_word ------------------------------------------------------------

std::string exec_word(const Value& v) { return escape_word(v, WordStyle::kCEscaped, true); }
std::string env_word(const Value& v) { return escape_word(v, WordStyle::kCEscaped, false); }
std::string quoted_word(const Value& v) { return escape_word(v, WordStyle::kQuoted, false); }

TEST(EscapeWord, WordIsDoubleQuoted) {
  EXPECT_EQ(exec_word("hello world"), "\"hello world\"");
  EXPECT_EQ(exec_word(""), "\"\"") << "an empty argument stays an argument";
}

TEST(EscapeWord, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(exec_word("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(exec_word("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(exec_word("it's"), "\"it's\"");
  EXPECT_EQ(exec_word("trail\\"), "\"trail\\\\\"");
}

TEST(EscapeWord, PercentIsDoubledInEveryStyle) {
  EXPECT_EQ(exec_word("50%"), "\"50%%\"");
  EXPECT_EQ(env_word("50%"), "\"50%%\"");
  EXPECT_EQ(quoted_word("50%"), "\"50%%\"");
}

TEST(EscapeWord, DollarIsDoubledOnlyInExecArguments) {
  EXPECT_EQ(exec_word("$HOME ${X}"), "\"$$HOME $${X}\"");
  EXPECT_EQ(env_word("A=$HOME"), "\"A=$HOME\"");
  EXPECT_EQ(quoted_word("$x"), "\"$x\"");
}

TEST(EscapeWord, ControlCharactersAreCEscaped) {
  EXPECT_EQ(exec_word("a\nb"), "\"a\\nb\"");
  EXPECT_EQ(exec_word("a\tb"), "\"a\\tb\"");
  EXPECT_EQ(exec_word("\x01"), "\"\\x01\"");
  EXPECT_EQ(exec_word("\r\x1b\x7f"), "\"\\x0d\\x1b\\x7f\"");
}

TEST(EscapeWord, ValidUtfEightIsKeptRaw) {
  EXPECT_EQ(exec_word("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(exec_word("\xe2\x82\xac"), "\"\xe2\x82\xac\"");          // U+20AC
  EXPECT_EQ(exec_word("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // U+1F600
  EXPECT_EQ(exec_word("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF
}

TEST(EscapeWord, InvalidUtfEightBytesAreHexEscaped) {
  EXPECT_EQ(exec_word("\xff"), "\"\\xff\"");
  EXPECT_EQ(exec_word("a\xc3"), "\"a\\xc3\"") << "truncated sequence";
  EXPECT_EQ(exec_word("\xc3(x"), "\"\\xc3(x\"") << "bad continuation byte";
  EXPECT_EQ(exec_word("\xc0\xaf"), "\"\\xc0\\xaf\"") << "overlong";
  EXPECT_EQ(exec_word("\xe0\x80\xaf"), "\"\\xe0\\x80\\xaf\"") << "overlong, 3 bytes";
  EXPECT_EQ(exec_word("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"") << "surrogate";
  EXPECT_EQ(exec_word("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\"") << "beyond U+10FFFF";
  EXPECT_EQ(exec_word("\x80"), "\"\\x80\"") << "lone continuation byte";
}

TEST(EscapeWord, SpecifierIsKeptAndVerbatimRejected) {
  EXPECT_EQ(exec_word(Value("/opt/") + Specifier{'i'} + Value("/rootfs")), "\"/opt/%i/rootfs\"");
  EXPECT_THROW(exec_word(Verbatim{"x"}), Error);
  EXPECT_THROW(exec_word(Specifier{'-'}), Error);
}

TEST(EscapeWord, QuotedStyleRejectsControlCharacters) {
  EXPECT_THROW(quoted_word("a\nb"), Error);
  EXPECT_THROW(quoted_word("a\tb"), Error);
  EXPECT_THROW(quoted_word("\x01"), Error);
  EXPECT_THROW(quoted_word("\x7f"), Error);
  EXPECT_THROW(quoted_word("a\0b"s), Error);
}

TEST(EscapeWord, QuotedStyleEscapesOnlyQuoteAndBackslash) {
  EXPECT_EQ(quoted_word("a \"b\" \\c \xc3\xa9"), "\"a \\\"b\\\" \\\\c \xc3\xa9\"");
}

// systemd reads "\x00" in a quoted word as an unknown escape and passes the
// four characters '\', 'x', '0', '0' to the program; no argument or
// environment value can hold a NUL byte, so it must be an error.
TEST(EscapeWord, NulByteIsAnError) {
  EXPECT_THROW(exec_word("a\0b"s), Error);
  EXPECT_THROW(env_word("A=\0"s), Error);
}

// Environment= drops an assignment whose value is not valid UTF-8 ("Invalid
// environment assignment, ignoring"): the variable silently disappears.
TEST(EscapeWord, InvalidUtfEightInEnvironmentIsAnError) { EXPECT_THROW(env_word("A=\xff"), Error); }

// A plain quoted list has no escapes, and systemd refuses a line that is not
// valid UTF-8.
TEST(EscapeWord, QuotedStyleRejectsInvalidUtfEight) { EXPECT_THROW(quoted_word("\xff"), Error); }

// --- unit names -------------------------------------------------------------

TEST(EscapeUnitName, DashIsEscaped) { EXPECT_EQ(escape_unit_name("crt-1a"), "crt\\x2d1a"); }

TEST(EscapeUnitName, MachineNameOfAPod) {
  EXPECT_EQ(escape_unit_name("crt-0b6e0c3c-7d41-4b1a-9f55-2f4a4c1d2e3f"),
            "crt\\x2d0b6e0c3c\\x2d7d41\\x2d4b1a\\x2d9f55\\x2d2f4a4c1d2e3f");
}

TEST(EscapeUnitName, SlashBecomesDash) { EXPECT_EQ(escape_unit_name("a/b"), "a-b"); }

TEST(EscapeUnitName, LeadingDotOnlyIsEscaped) {
  EXPECT_EQ(escape_unit_name(".a.b"), "\\x2ea.b");
  EXPECT_EQ(escape_unit_name("."), "\\x2e");
}

TEST(EscapeUnitName, AllowedCharactersAreKept) {
  EXPECT_EQ(escape_unit_name("Az09:_."), "Az09:_.");
}

TEST(EscapeUnitName, EverythingElseIsHexEscapedPerByte) {
  EXPECT_EQ(escape_unit_name("a b"), "a\\x20b");
  EXPECT_EQ(escape_unit_name("\\"), "\\x5c");
  EXPECT_EQ(escape_unit_name("%$@"), "\\x25\\x24\\x40");
  EXPECT_EQ(escape_unit_name("\xc3\xa9"), "\\xc3\\xa9");
  EXPECT_EQ(escape_unit_name("\n"), "\\x0a");
  EXPECT_EQ(escape_unit_name(""), "");
}

TEST(EscapeUnitPath, RootIsDash) {
  EXPECT_EQ(escape_unit_path("/"), "-");
  EXPECT_EQ(escape_unit_path(""), "-");
  EXPECT_EQ(escape_unit_path("///"), "-");
}

TEST(EscapeUnitPath, SlashesAreSimplified) {
  EXPECT_EQ(escape_unit_path("/var/lib/crt"), "var-lib-crt");
  EXPECT_EQ(escape_unit_path("//a//b/"), "a-b");
  EXPECT_EQ(escape_unit_path("/a/./b/."), "a-b");
}

TEST(EscapeUnitPath, LeadingDotOfTheFirstComponentIsEscaped) {
  EXPECT_EQ(escape_unit_path("/.dotdir"), "\\x2edotdir");
  EXPECT_EQ(escape_unit_path("/a/.b"), "a-.b");
}

TEST(EscapeUnitPath, DashInAComponentIsEscaped) {
  EXPECT_EQ(escape_unit_path("/-x/y-z"), "\\x2dx-y\\x2dz");
}

// systemd-escape --path refuses a path that is not normalized ("..").
// --- validate_unit_name: systemd's unit_name_is_valid() ---------------------

TEST(ValidateUnitName, TakesWhatSystemdTakes) {
  for (const std::string& ok : {"multi-user.target"s, "a.service"s, "getty@tty1.service"s, "getty@.service"s,
                                "a@b@c.socket"s, "x:y_z\\x2d.mount"s, "dev-sda.device"s, "a.automount"s, "b.swap"s,
                                "c.timer"s, "d.path"s, "e.slice"s, "f.scope"s, std::string(247, 'a') + ".service"})
    EXPECT_NO_THROW(validate_unit_name(ok)) << ok;
}

TEST(ValidateUnitName, RefusesWhatSystemdRefuses) {
  EXPECT_EQ(test::error_of([] { validate_unit_name("multi-user.target,graphical.target"); }),
            "'multi-user.target,graphical.target' is not a unit name: only letters, digits and ':-_.\\@' are "
            "allowed");
  EXPECT_EQ(test::error_of([] { validate_unit_name("multi-user.targte"); }),
            "'multi-user.targte' is not a unit name: it does not end in a unit type (.target, .service, .socket, "
            ".timer, .path, .mount …)");
  EXPECT_EQ(test::error_of([] { validate_unit_name(".target"); }),
            "'.target' is not a unit name: it has no name before its type");
  for (const std::string& bad : {""s, "target"s, "@.service"s, "@a.service"s, "a b.target"s, "a/b.target"s,
                                 "a.target."s, "caf\xc3\xa9.target"s, std::string(248, 'a') + ".service"})
    EXPECT_THROW(validate_unit_name(bad), Error) << bad;
}

TEST(EscapeUnitPath, DotDotIsAnError) { EXPECT_THROW(escape_unit_path("/a/../b"), Error); }

// The host's own systemd-escape is the reference for the rules above.
class AgainstSystemdEscape : public ::testing::TestWithParam<std::string> {};

TEST_P(AgainstSystemdEscape, UnitNameMatches) {
  auto tool = test::find_program("systemd-escape");
  if (!tool) GTEST_SKIP() << "systemd-escape is not installed";
  auto r = test::run_command({tool->string(), "--", GetParam()});
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(escape_unit_name(GetParam()) + "\n", r.out);
}

TEST_P(AgainstSystemdEscape, UnitPathMatches) {
  auto tool = test::find_program("systemd-escape");
  if (!tool) GTEST_SKIP() << "systemd-escape is not installed";
  std::string path = "/" + GetParam();
  auto r = test::run_command({tool->string(), "--path", "--", path});
  if (r.status != 0) GTEST_SKIP() << "systemd-escape --path refuses " << path;
  EXPECT_EQ(escape_unit_path(path) + "\n", r.out);
}

INSTANTIATE_TEST_SUITE_P(HostileNames, AgainstSystemdEscape,
                         ::testing::Values("crt-1a", ".dotdir", "-dash", "a b", "100%", "$x", "q\"uote'",
                                           "back\\slash", "tab\tnew\nline", "caf\xc3\xa9", "x/y/z", "a.b:c_d",
                                           "--", "~user", "@at"));

}  // namespace
}  // namespace crt::unit
