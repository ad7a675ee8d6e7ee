#include "golden_support.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace crt::golden {

bool updating() {
  const char* v = std::getenv("CRT_GOLDEN_UPDATE");
  return v != nullptr && std::string(v) == "1";
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::filesystem::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("writing " + p.string());
}

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(s);
  while (std::getline(in, line)) out.push_back(line);
  if (!s.empty() && s.back() != '\n') out.back() += "  <no newline at end>";
  return out;
}

/// A unified diff (3 lines of context) of two texts, from a longest common
/// subsequence of their lines; the files here are small.
}  // namespace

std::string unified_diff(const std::string& name, const std::string& expected, const std::string& actual) {
  auto a = lines_of(expected);
  auto b = lines_of(actual);
  size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> lcs(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  struct Op {
    char tag;
    size_t ai, bi;
  };
  std::vector<Op> ops;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ops.push_back({' ', i++, j++});
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push_back({'-', i++, j});
    } else {
      ops.push_back({'+', i, j++});
    }
  }
  const size_t kContext = 3;
  std::ostringstream out;
  out << "--- expected/" << name << "\n+++ rendered/" << name << "\n";
  std::vector<size_t> changes;
  for (size_t t = 0; t < ops.size(); ++t)
    if (ops[t].tag != ' ') changes.push_back(t);
  for (size_t c = 0; c < changes.size(); ++c) {
    size_t first = changes[c];
    size_t last = first;
    // Changes at most 2*context lines apart share a hunk.
    while (c + 1 < changes.size() && changes[c + 1] - last - 1 <= 2 * kContext) last = changes[++c];
    size_t start = first >= kContext ? first - kContext : 0;
    size_t end = std::min(ops.size(), last + kContext + 1);
    size_t a_count = 0, b_count = 0;
    for (size_t t = start; t < end; ++t) {
      if (ops[t].tag != '+') ++a_count;
      if (ops[t].tag != '-') ++b_count;
    }
    out << "@@ -" << ops[start].ai + 1 << "," << a_count << " +" << ops[start].bi + 1 << "," << b_count << " @@\n";
    for (size_t t = start; t < end; ++t)
      out << ops[t].tag << (ops[t].tag == '+' ? b[ops[t].bi] : a[ops[t].ai]) << "\n";
  }
  return out.str();
}

}  // namespace crt::golden
