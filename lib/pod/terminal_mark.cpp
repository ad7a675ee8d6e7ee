#include "pod/terminal_mark.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/error.hpp"

namespace crt::pod {

namespace {

/// Tokens kept for flush requests yet to come: a pod's apps end one at a
/// time, so a few are plenty; an app that prints marks cannot pile them up.
constexpr size_t kTokensKept = 16;

bool is_mark_token_char(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

}  // namespace

std::string terminal_mark(std::string_view token) {
  std::string mark(kTerminalMarkStart);
  mark.append(token);
  mark += kTerminalMarkEnd;
  return mark;
}

std::string new_terminal_mark_token() {
  unsigned char bytes[8];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("getting random bytes for a terminal mark");
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string token;
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 0xf];
  }
  return token;
}

std::string TerminalMarks::take(std::string_view data) {
  std::string in = std::move(held_);
  held_.clear();
  in.append(data);
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t esc = in.find('\x1b', pos);
    if (esc == std::string::npos) break;
    out.append(in, pos, esc - pos);
    std::string_view rest = std::string_view(in).substr(esc);
    size_t start = std::min(rest.size(), kTerminalMarkStart.size());
    if (rest.substr(0, start) != kTerminalMarkStart.substr(0, start)) {
      out += '\x1b';  // another escape sequence
      pos = esc + 1;
      continue;
    }
    // The start of a mark, or all of what is left is the start of one.
    size_t i = start;
    while (i < rest.size() && i - start < kTerminalMarkTokenMax && is_mark_token_char(rest[i])) ++i;
    if (i == rest.size()) {
      held_ = rest;  // the next chunk tells (at most the start and a token)
      return out;
    }
    if (start == kTerminalMarkStart.size() && i > start && i < rest.size() && rest[i] == kTerminalMarkEnd) {
      if (tokens_.size() == kTokensKept) tokens_.pop_front();
      tokens_.emplace_back(rest.substr(start, i - start));
      pos = esc + i + 1;
      continue;
    }
    out += '\x1b';  // looked like one, is not
    pos = esc + 1;
  }
  if (pos < in.size()) out.append(in, pos);
  return out;
}

std::string TerminalMarks::release() { return std::exchange(held_, {}); }

bool TerminalMarks::seen(std::string_view token) {
  auto it = std::find(tokens_.begin(), tokens_.end(), token);
  if (it == tokens_.end()) return false;
  tokens_.erase(it);
  return true;
}

}  // namespace crt::pod
