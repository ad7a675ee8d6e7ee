#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"

namespace crt::runtime {

/// The kernel's record of a process its OOM killer killed (an "oom-kill:"
/// line of its log).
struct OomKill {
  std::string constraint;  ///< CONSTRAINT_MEMCG: a cgroup's limit; CONSTRAINT_NONE: the host's memory
  std::string oom_memcg;   ///< the cgroup whose limit was reached (CONSTRAINT_MEMCG)
  std::string task_memcg;  ///< the killed process's memory cgroup
  std::string task;        ///< its name
};

/// Parses one record of /dev/kmsg ("PRIO,SEQ,USEC,FLAGS;TEXT"), undoing
/// the kernel's \xHH escapes; nullopt unless it records an OOM kill.
std::optional<OomKill> parse_oom_kill(std::string_view record);

/// The cgroup of app `app` of a pod whose cgroup is `pod_cgroup` (relative
/// to the hierarchy's root, as cgroup::PodCgroup::relative()), as the
/// kernel names it: "/POD/system.slice/APP.service".
std::string app_memcg(const std::string& pod_cgroup, const std::string& app);

/// Whether the kernel's `memcg` is that of app `app` of a pod whose cgroup
/// is `pod_cgroup`: app_memcg(), or the same below "payload/", which nspawn
/// puts the pod's init into on a unified (cgroup v2) hierarchy.
bool is_app_memcg(const std::string& memcg, const std::string& pod_cgroup, const std::string& app);

/// What the kernel's OOM killer did to app `app` of a pod whose cgroup is
/// `pod_cgroup`, among `kills`, in a sentence ("app 'web' ran out of memory
/// (its limit is N bytes, --memory): the kernel's OOM killer killed its
/// process 'sh'"); nullopt if it killed none of the app's processes.
/// `memory_max` is the app's --memory.
std::optional<std::string> explain_oom_kills(const std::vector<OomKill>& kills, const std::string& pod_cgroup,
                                             const std::string& app, std::optional<uint64_t> memory_max);

/// How many processes of app `app` of a pod whose cgroup is `pod_cgroup`
/// the kernel's OOM killer killed, among `kills`.
size_t count_oom_kills(const std::vector<OomKill>& kills, const std::string& pod_cgroup, const std::string& app);

/// The kernel's log from a point on.
class KernelLog {
 public:
  /// From its end as it is now; a log that cannot be read (no /dev/kmsg in
  /// a container, say) has no records.
  static KernelLog from_now(const char* kmsg = "/dev/kmsg");
  /// The OOM kills recorded since, still kept by the kernel.
  std::vector<OomKill> oom_kills();

 private:
  UniqueFd fd_;
};

}  // namespace crt::runtime
