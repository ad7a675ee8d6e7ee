#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crt::runtime {

/// The kernel's record of a process its OOM killer killed (an "oom-kill:"
/// line of its log).
struct OomKill {
  std::string task_memcg;  ///< the killed process's memory cgroup
  std::string task;        ///< its name
};

/// Parses one record of /dev/kmsg ("PRIO,SEQ,USEC,FLAGS;TEXT"), undoing
/// the kernel's \xHH escapes; nullopt unless it records an OOM kill.
std::optional<OomKill> parse_oom_kill(std::string_view record);

/// The OOM kills of app `app` of the pod whose machine is `machine_name`.
std::vector<OomKill> kills_of_app(const std::vector<OomKill>& kills, const std::string& machine_name,
                                  const std::string& app);

/// The OOM kills still in the kernel's log (`kmsg`); none if it cannot be
/// read (no /dev/kmsg in a container, say).
std::vector<OomKill> read_oom_kills(const char* kmsg = "/dev/kmsg");

}  // namespace crt::runtime
