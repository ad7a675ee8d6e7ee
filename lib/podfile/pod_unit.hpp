#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "podfile/pod_file.hpp"
#include "unit/unit_file.hpp"

namespace crt::podfile {

/// The service crt-generator makes of a pod file.
struct PodUnit {
  std::string name;  ///< crt-NAME.service
  unit::UnitFile unit;
  std::vector<std::string> wanted_by;    ///< [Install] WantedBy=: NAME.wants/ links
  std::vector<std::string> required_by;  ///< [Install] RequiredBy=: NAME.requires/ links
};

/// The `crt run` arguments (after "run") a pod file stands for.
std::vector<std::string> run_args(const PodFile& f);

/// Checks every key and value of the pod file (crt.pod(5)) and builds its
/// unit, running `crt_binary run …`. Throws PodFileError naming file, line
/// and key.
PodUnit pod_unit(const PodFile& f, const std::string& crt_binary);

/// The pod names a pod file that crt-generator refused may stand for, best
/// first: its [Pod] Name= (when the file parses that far), then its file
/// name without ".pod"; only valid ones, none when neither is. The file is
/// read only if it is a regular file (a FIFO would block the boot).
std::vector<std::string> refused_pod_names(const std::filesystem::path& path);

/// The unit crt-generator writes for pod `name` in the stead of a pod file
/// it refused (at `path`, for `why`): where the admin looks for the pod,
/// `systemctl status` shows why in its description, and a start fails at
/// once, `crt_binary pod-file refused` saying why in the unit's journal.
PodUnit refused_pod_unit(const std::string& name, const std::string& path, const std::string& why,
                         const std::string& crt_binary);

/// Splits Args= into words: whitespace separates them, "…" and '…' quote,
/// and in "…" a backslash escapes the next character.
std::vector<std::string> split_words(const std::string& s);

}  // namespace crt::podfile
