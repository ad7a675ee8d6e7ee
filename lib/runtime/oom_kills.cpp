#include "runtime/oom_kills.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "common/error.hpp"

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

}  // namespace

std::optional<OomKill> parse_oom_kill(std::string_view record) {
  size_t semi = record.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::string_view text = record.substr(semi + 1);
  text = text.substr(0, text.find('\n'));  // continuation lines follow
  constexpr std::string_view kTag = "oom-kill:";
  if (text.substr(0, kTag.size()) != kTag) return std::nullopt;
  // constraint=…,nodemask=…,cpuset=…,mems_allowed=…[,oom_memcg=…],task_memcg=…,task=…,pid=…,uid=…
  // Cgroup and process names may hold commas: the fields are found from
  // the end, where the numbers are.
  text.remove_prefix(kTag.size());
  size_t pid_at = text.rfind(",pid=");
  size_t task_at = pid_at == std::string_view::npos ? pid_at : text.rfind(",task=", pid_at);
  size_t memcg_at = task_at == std::string_view::npos ? task_at : text.rfind(",task_memcg=", task_at);
  if (memcg_at == std::string_view::npos) return std::nullopt;
  OomKill k;
  k.task = unescape(text.substr(task_at + 6, pid_at - task_at - 6));
  k.task_memcg = unescape(text.substr(memcg_at + 12, task_at - memcg_at - 12));
  if (size_t at = text.rfind(",oom_memcg=", memcg_at); at != std::string_view::npos)
    k.oom_memcg = unescape(text.substr(at + 11, memcg_at - at - 11));
  constexpr std::string_view kConstraint = "constraint=";
  if (text.substr(0, kConstraint.size()) == kConstraint)
    k.constraint = text.substr(kConstraint.size(), text.find(',') - kConstraint.size());
  if (k.task_memcg.empty()) return std::nullopt;
  return k;
}

std::string app_memcg(const std::string& pod_cgroup, const std::string& app) {
  return "/" + pod_cgroup + "/system.slice/" + app + ".service";
}

bool is_app_memcg(const std::string& memcg, const std::string& pod_cgroup, const std::string& app) {
  return memcg == app_memcg(pod_cgroup, app) || memcg == app_memcg(pod_cgroup + "/payload", app);
}

namespace {

/// Why the kernel's OOM killer killed a process of an app, from its record
/// (the process was in the app's own cgroup).
std::string oom_reason(const OomKill& k, std::optional<uint64_t> memory_max) {
  if (k.constraint == "CONSTRAINT_MEMCG" && k.oom_memcg == k.task_memcg && memory_max)
    return "ran out of memory (its limit is " + std::to_string(*memory_max) + " bytes, --memory)";
  if (k.constraint == "CONSTRAINT_MEMCG") return "was in cgroup " + quote(k.oom_memcg) + ", which reached its memory limit";
  if (k.constraint == "CONSTRAINT_NONE") return "was running when the host ran out of memory";
  return "ran out of memory (" + k.constraint + ")";
}

/// The kills among `kills` of a process of app `app` of the pod in `pod_cgroup`.
std::vector<const OomKill*> kills_in(const std::vector<OomKill>& kills, const std::string& pod_cgroup,
                                     const std::string& app) {
  std::vector<const OomKill*> out;
  for (const auto& k : kills)
    if (is_app_memcg(k.task_memcg, pod_cgroup, app)) out.push_back(&k);
  return out;
}

}  // namespace

size_t count_oom_kills(const std::vector<OomKill>& kills, const std::string& pod_cgroup, const std::string& app) {
  return kills_in(kills, pod_cgroup, app).size();
}

std::optional<std::string> explain_oom_kills(const std::vector<OomKill>& kills, const std::string& pod_cgroup,
                                             const std::string& app, std::optional<uint64_t> memory_max) {
  std::vector<const OomKill*> mine = kills_in(kills, pod_cgroup, app);
  if (mine.empty()) return std::nullopt;
  std::string what = mine.size() == 1 ? "its process " + quote(mine[0]->task)
                                      : std::to_string(mine.size()) + " of its processes";
  return "app " + quote(app) + " " + oom_reason(*mine.back(), memory_max) + ": the kernel's OOM killer killed " + what;
}

KernelLog KernelLog::from_now(const char* kmsg) {
  KernelLog log;
  log.fd_ = UniqueFd(::open(kmsg, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (log.fd_ && ::lseek(log.fd_.get(), 0, SEEK_END) < 0) log.fd_ = UniqueFd();
  return log;
}

std::vector<OomKill> KernelLog::oom_kills() {
  std::vector<OomKill> out;
  if (!fd_) return out;
  // Each read() gives one record; EPIPE when the one due was overwritten
  // meanwhile (the next read goes on from the oldest kept), EAGAIN at the end.
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
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
