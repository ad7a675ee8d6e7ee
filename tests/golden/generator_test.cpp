// Golden tests of crt-generator: every folder under generator/ is a root
// with pod files in etc/crt/pods, run/crt/pods and usr/lib/crt/pods, and
// expected/ holds every unit generated, LINKS (one "path -> target" per
// line) and ERRORS (one message per skipped file or unreadable directory,
// as crt-generator logs it), byte for byte. Paths in them are shown as from "/".
//
// CRT_GOLDEN_UPDATE=1 rewrites expected/ from what the library generates now.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "golden_support.hpp"
#include "podfile/generate.hpp"

namespace crt {
namespace {

namespace stdfs = std::filesystem;
using Files = std::map<std::string, std::string>;

const char* const kCrt = "/usr/bin/crt";

stdfs::path cases_dir() { return stdfs::path(CRT_GOLDEN_DIR).parent_path() / "generator"; }

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(cases_dir(), ec))
    if (de.is_directory()) names.push_back(de.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string relative_to_root(std::string s, const std::string& root) {
  for (size_t pos; (pos = s.find(root)) != std::string::npos;) s.erase(pos, root.size());
  return s;
}

Files generate_case(const stdfs::path& dir) {
  podfile::Generated g = podfile::generate_under(dir, kCrt);
  Files out;
  std::string links, errors;
  for (const auto& f : g.files) {
    if (f.link.empty())
      out[f.path] = relative_to_root(f.content, dir.string());
    else
      links += f.path + " -> " + f.link + "\n";
  }
  // As the kernel log gets them: one line each, UTF-8.
  const std::string head = "<3>crt-generator[1]: ";
  for (const auto& e : g.errors)
    errors += relative_to_root(podfile::kmsg_record(e, 1).substr(head.size()), dir.string());
  if (!links.empty()) out["LINKS"] = links;
  if (!errors.empty()) out["ERRORS"] = errors;
  return out;
}

Files read_expected(const stdfs::path& dir) {
  Files out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec))
    if (de.is_regular_file()) out[de.path().filename().string()] = golden::read(de.path());
  return out;
}

class GeneratorGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GeneratorGolden, GeneratesExactlyTheExpectedFiles) {
  const stdfs::path dir = cases_dir() / GetParam();
  Files actual = generate_case(dir);
  const stdfs::path expected_dir = dir / "expected";
  if (golden::updating()) {
    stdfs::create_directories(expected_dir);
    for (const auto& [name, content] : read_expected(expected_dir))
      if (!actual.count(name)) stdfs::remove(expected_dir / name);
    for (const auto& [name, content] : actual) golden::write(expected_dir / name, content);
    return;
  }
  Files expected = read_expected(expected_dir);
  ASSERT_FALSE(expected.empty()) << expected_dir << " is empty: run with CRT_GOLDEN_UPDATE=1, then read the files";
  for (const auto& [name, content] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      ADD_FAILURE() << "expected/" << name << " was not generated";
      continue;
    }
    if (it->second != content)
      ADD_FAILURE() << "expected/" << name << " differs:\n" << golden::unified_diff(name, content, it->second);
  }
  for (const auto& [name, content] : actual)
    if (!expected.count(name)) ADD_FAILURE() << name << " was generated but is not in expected/:\n" << content;
}

INSTANTIATE_TEST_SUITE_P(Generator, GeneratorGolden, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string n = param.param;
                           std::replace_if(n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return n;
                         });

TEST(GeneratorGoldenCases, ThereAreSome) { EXPECT_GE(case_names().size(), 3u) << "no cases in " << cases_dir(); }

}  // namespace
}  // namespace crt
