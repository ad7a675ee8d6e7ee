#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace crt::podfile {

/// Where crt-generator reads pod files, earliest first: a file in an earlier
/// directory hides one of the same name in a later one, and so does an empty
/// file or a link to /dev/null there (a mask), as with systemd's units.
inline const char* const kPodDirs[] = {"etc/crt/pods", "run/crt/pods", "usr/lib/crt/pods"};

/// Whether crt-generator reads a file of this name in kPodDirs: NAME.pod,
/// NAME not empty and not starting with '.'.
bool is_pod_file_name(const std::string& name);

/// The pod files found under a root, and what could not be read there.
struct PodFiles {
  std::vector<std::filesystem::path> paths;
  std::vector<std::string> errors;  ///< a directory of kPodDirs that is there but cannot be read
};

/// The *.pod files under `root` (the host's "/", or a test's directory) in
/// kPodDirs, overrides and masks applied: the earliest directory's first,
/// by file name within each. An entry that is neither a mask nor a regular
/// file (a directory, a link to nothing) still hides the later files of its
/// name, and is among `paths`, for generate() to say why it makes no unit.
PodFiles find_pod_files(const std::filesystem::path& root);

/// A file crt-generator writes into its output directory.
struct OutputFile {
  std::string path;     ///< relative: "crt-web.service", "multi-user.target.wants/crt-web.service"
  std::string content;  ///< unit text; empty for a link
  std::string link;     ///< symlink target, or empty for a regular file
  /// A unit made in the stead of a pod file that was refused (refused_pod_unit()).
  bool refused = false;
};

/// The result of generating: every unit and link, one message per pod
/// file that was skipped, and the masks among the files given.
struct Generated {
  std::vector<OutputFile> files;
  std::vector<std::string> errors;
  std::vector<std::string> masked;  ///< paths of masks: no unit, and no error
};

/// systemd's mask, which crt-generator takes as one: an empty file, or a
/// link to /dev/null.
bool is_mask(const std::filesystem::path& p);

/// Turns pod files into units running `crt_binary`. A mask makes nothing
/// (it is in `masked`). A file that is invalid,
/// or whose unit name an earlier file in `pod_files` already took, is
/// skipped with an error (naming that file); the others are generated all
/// the same. For a skipped file, a unit whose start fails saying why takes
/// the name the file stands for (refused_pod_names(): the first that no
/// other file's unit has; none if there is no such name). Files `found` in a directory must be regular files (a FIFO
/// would block the boot); one named by the user may be a pipe.
Generated generate(const std::vector<std::filesystem::path>& pod_files, const std::string& crt_binary,
                   bool found = false);

/// generate() of find_pod_files(root), the directories' errors first: what
/// crt-generator makes at boot.
Generated generate_under(const std::filesystem::path& root, const std::string& crt_binary);

/// The longest record /dev/kmsg takes (the kernel refuses a longer write
/// whole), with room to spare for older kernels' 992 bytes.
inline constexpr size_t kKmsgRecordMax = 976;

/// `message` of crt-generator (process `pid`) as a kernel log record at
/// error level: "<3>crt-generator[PID]: MESSAGE\n", the message on one
/// line and UTF-8 (escape_controls_utf8(): a pod file's bad bytes are
/// shown as \xNN, not passed on for journald to keep as a blob), cut (at a
/// character, with "…", saying so) where the record would be longer than
/// kKmsgRecordMax. Its start (file, line, key) is what tells what is wrong.
std::string kmsg_record(std::string_view message, long pid);

}  // namespace crt::podfile
