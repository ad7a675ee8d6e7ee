// Golden tests of the units crt writes for a pod: every folder under units/
// holds a resolved pod manifest (pod.json) and, in expected/, every file
// pod_units() returns for it, byte for byte. A case whose rendering must fail
// has expected/ERROR with the error message instead.
//
// CRT_GOLDEN_UPDATE=1 rewrites expected/ from what the library renders now.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "pod/manifest.hpp"
#include "pod/units.hpp"
#include "unit/render.hpp"
#include "golden_support.hpp"

namespace crt {
namespace {

using golden::read;
using golden::unified_diff;
using golden::updating;
using golden::write;

namespace stdfs = std::filesystem;
using Files = std::map<std::string, std::string>;

const char* const kErrorFile = "ERROR";

stdfs::path cases_dir() {
#ifdef CRT_GOLDEN_DIR
  return CRT_GOLDEN_DIR;
#else
  return stdfs::path(__FILE__).parent_path() / "units";
#endif
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(cases_dir(), ec))
    if (de.is_directory()) names.push_back(de.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// What the library renders for a case: unit files by name, or only ERROR.
Files render_case(const stdfs::path& dir) {
  Files out;
  try {
    pod::PodManifest m = pod::parse_manifest(read(dir / "pod.json"));
    for (const auto& [name, unit] : pod::pod_units(m)) out[name] = unit::render(unit);
  } catch (const Error& e) {
    return {{kErrorFile, std::string(e.what()) + "\n"}};
  }
  return out;
}

Files read_expected(const stdfs::path& dir) {
  Files out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec))
    if (de.is_regular_file()) out[de.path().filename().string()] = read(de.path());
  return out;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, RendersExactlyTheExpectedFiles) {
  const stdfs::path dir = cases_dir() / GetParam();
  ASSERT_TRUE(stdfs::exists(dir / "pod.json")) << dir << " has no pod.json";
  Files actual = render_case(dir);
  const stdfs::path expected_dir = dir / "expected";

  if (updating()) {
    stdfs::create_directories(expected_dir);
    for (const auto& [name, content] : read_expected(expected_dir))
      if (!actual.count(name)) stdfs::remove(expected_dir / name);
    for (const auto& [name, content] : actual) write(expected_dir / name, content);
    std::cout << "updated " << expected_dir.string() << "\n";
    return;
  }

  Files expected = read_expected(expected_dir);
  ASSERT_FALSE(expected.empty()) << expected_dir << " is empty: run with CRT_GOLDEN_UPDATE=1, then read the files";
  for (const auto& [name, content] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      ADD_FAILURE() << "expected/" << name << " was not rendered"
                    << (actual.count(kErrorFile) ? ": rendering failed: " + actual.at(kErrorFile) : "");
      continue;
    }
    if (it->second != content)
      ADD_FAILURE() << "expected/" << name << " differs:\n" << unified_diff(name, content, it->second);
  }
  for (const auto& [name, content] : actual)
    if (!expected.count(name)) ADD_FAILURE() << name << " was rendered but is not in expected/:\n" << content;
}

INSTANTIATE_TEST_SUITE_P(Units, Golden, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string n = param.param;
                           std::replace_if(n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return n;
                         });

TEST(GoldenCases, ThereAreSome) { EXPECT_GE(case_names().size(), 5u) << "no golden cases found in " << cases_dir(); }

TEST(GoldenDiff, ShowsChangedLinesWithContext) {
  std::string d = unified_diff("a.service", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nX\n6\n7\n8\n9\n");
  EXPECT_EQ(d,
            "--- expected/a.service\n+++ rendered/a.service\n"
            "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n");
}

TEST(GoldenDiff, AddedAndRemovedAtTheEnds) {
  EXPECT_EQ(unified_diff("x", "a\n", "a\nb\n"), "--- expected/x\n+++ rendered/x\n@@ -1,1 +1,2 @@\n a\n+b\n");
  EXPECT_EQ(unified_diff("x", "a\nb\n", "b\n"), "--- expected/x\n+++ rendered/x\n@@ -1,2 +1,1 @@\n-a\n b\n");
  EXPECT_EQ(unified_diff("x", "a", "a\n"),
            "--- expected/x\n+++ rendered/x\n@@ -1,1 +1,1 @@\n-a  <no newline at end>\n+a\n");
}

}  // namespace
}  // namespace crt
