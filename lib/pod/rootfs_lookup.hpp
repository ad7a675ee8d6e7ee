#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pod/manifest.hpp"

namespace crt::pod {

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;
  std::string shell;
};

struct GroupEntry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;  ///< user names, the fourth field
};

/// Parses /etc/passwd content; malformed lines are skipped.
std::vector<PasswdEntry> parse_passwd(std::string_view content);
/// Parses /etc/group content; malformed lines are skipped.
std::vector<GroupEntry> parse_group(std::string_view content);

/// Parses a user or group id; nullopt when `s` is not a plain number.
std::optional<uint32_t> parse_id(std::string_view s);

/// The most groups (its own and supplementary ones) an app's user may be in:
/// the pod's systemd takes time quadratic in their number to start the app,
/// and this many keep it within seconds, far from its start timeout.
inline constexpr size_t kMaxAppGroups = 8192;

/// Resolves app.user/app.group to numbers with the image's passwd and group
/// files (empty when the image has none) and fills HOME, USER, LOGNAME and
/// SHELL unless set. A user found in the passwd file and given no group
/// also gets, as supplementary groups, the groups that list it as a member
/// (after those given with --supplementary-gids), as docker and podman do.
/// Refuses a user in more than kMaxAppGroups groups, naming it.
void resolve_user(AppManifest& app, std::string_view passwd, std::string_view group);

/// Reads a file inside the app rootfs (symlinks resolved inside it); empty
/// when it does not exist.
std::string read_in_root(int root_fd, std::string_view path);

/// Finds the binary argv[0] names inside the rootfs (PATH search for bare
/// names) and records it in app.exec_path; also refuses one whose
/// interpreter (a script's "#!" line, an ELF binary's dynamic loader) is
/// not there. `where` names the rootfs in messages ("… does not exist in
/// WHERE").
void resolve_exec(AppManifest& app, int root_fd, const std::string& where);

}  // namespace crt::pod
