#include "runtime/oom_kills.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "cgroup/cgroup.hpp"
#include "common/fd.hpp"

namespace crt::runtime {

namespace {

/// `s` with the kernel log's \xHH escapes (of '\' and unprintable bytes)
/// undone.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned value = 0;
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' &&
        std::from_chars(s.data() + i + 2, s.data() + i + 4, value, 16).ptr == s.data() + i + 4) {
      out.push_back(static_cast<char>(value));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// The value of "KEY=" in a comma-separated "K=V,K=V" list.
std::string value_of(std::string_view list, std::string_view key) {
  size_t at = 0;
  while (at < list.size()) {
    size_t end = list.find(',', at);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(at, end - at);
    if (item.size() > key.size() && item.substr(0, key.size()) == key && item[key.size()] == '=')
      return std::string(item.substr(key.size() + 1));
    at = end + 1;
  }
  return {};
}

}  // namespace

std::optional<OomKill> parse_oom_kill(std::string_view record) {
  size_t semi = record.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::string_view text = record.substr(semi + 1);
  text = text.substr(0, text.find('\n'));  // continuation lines follow
  constexpr std::string_view kTag = "oom-kill:";
  if (text.substr(0, kTag.size()) != kTag) return std::nullopt;
  // The fields are separated by commas; the values are escaped, so a comma
  // of a cgroup's name (\x2c) cannot be taken for one.
  std::string_view fields = text.substr(kTag.size());
  OomKill k{unescape(value_of(fields, "task_memcg")), unescape(value_of(fields, "task"))};
  if (k.task_memcg.empty()) return std::nullopt;
  return k;
}

std::vector<OomKill> kills_of_app(const std::vector<OomKill>& kills, const std::string& machine_name,
                                  const std::string& app) {
  std::string tail = "/" + cgroup::PodCgroup::scope_name(machine_name) + "/system.slice/" + app + ".service";
  std::vector<OomKill> out;
  for (const auto& k : kills)
    if (k.task_memcg.size() >= tail.size() && k.task_memcg.compare(k.task_memcg.size() - tail.size(), tail.size(), tail) == 0)
      out.push_back(k);
  return out;
}

std::vector<OomKill> read_oom_kills(const char* kmsg) {
  std::vector<OomKill> out;
  UniqueFd fd(::open(kmsg, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return out;
  // Each read() gives one record, from the oldest still kept; EPIPE when
  // the one due was overwritten meanwhile, EAGAIN at the end.
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      if (auto k = parse_oom_kill(std::string_view(buf, static_cast<size_t>(n)))) out.push_back(std::move(*k));
    } else if (n < 0 && (errno == EPIPE || errno == EINTR)) {
      continue;
    } else {
      break;
    }
  }
  return out;
}

}  // namespace crt::runtime
