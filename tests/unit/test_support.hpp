#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/fs.hpp"

namespace crt::test {

namespace stdfs = std::filesystem;

/// A fresh directory under $TMPDIR for one test, removed afterwards.
class Scratch {
 public:
  Scratch();
  [[nodiscard]] const stdfs::path& path() const { return dir_.path(); }
  [[nodiscard]] stdfs::path operator/(const stdfs::path& p) const { return dir_.path() / p; }

 private:
  fs::TempDir dir_;
};

/// A tmpfs mounted at `path` (made if missing) with `options` (size=1m,
/// nr_inodes=64) for one test, for a file system that fills up; unmounted
/// (lazily) however the test ends. Needs root: valid() says if it is there.
class Tmpfs {
 public:
  Tmpfs(const stdfs::path& path, const std::string& options);
  ~Tmpfs();
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  [[nodiscard]] bool valid() const { return mounted_; }

 private:
  stdfs::path path_;
  bool mounted_ = false;
};

/// Writes `content` to `path`, creating parent directories.
void write_text(const stdfs::path& path, const std::string& content, mode_t mode = 0644);

/// The whole content of a file.
std::string read_text(const stdfs::path& path);

/// Names in a directory, sorted; empty when it does not exist.
std::vector<std::string> list_dir(const stdfs::path& dir);

/// A path's lstat(); a failure fails the test (and gives zeros).
struct stat stat_of(const stdfs::path& path);

/// Sets a path's atime and mtime (without following a symlink) to whole seconds.
void set_mtime(const stdfs::path& path, time_t seconds);

/// One member of a tarball written by write_tar().
struct TarMember {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kZeroCharDevice };
  Type type = Type::kFile;
  std::string path;
  std::string data;  ///< file content, or the link target
  mode_t mode = 0644;
  std::vector<std::pair<std::string, std::string>> xattrs;  ///< name, value (SCHILY.xattr.NAME)
  std::string acl;          ///< POSIX.1e access ACL as text (SCHILY.acl.access, as tar --acls writes it)
  std::string default_acl;  ///< a directory's default ACL (SCHILY.acl.default)
};

TarMember tar_file(std::string path, std::string content, mode_t mode = 0644);
TarMember tar_dir(std::string path);
TarMember tar_symlink(std::string path, std::string target);
TarMember tar_hardlink(std::string path, std::string target);

/// Writes a POSIX tar (with libarchive, so member names are exactly as given:
/// "../x" and "/x" stay as they are).
void write_tar(const stdfs::path& path, const std::vector<TarMember>& members);

/// Sets an environment variable (nullopt: unsets it) for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// What crt::Error `body` throws, or "(no error)".
std::string error_of(const std::function<void()>& body);

/// How a body run in a child process ended.
enum class Outcome { kReturned, kThrewError, kThrewOther, kCrashed };

/// Runs `body` in a forked child, so that a crash in the library fails one
/// expectation instead of the whole test program.
Outcome outcome_in_child(const std::function<void()>& body);

const char* outcome_name(Outcome o);

/// The exit status and stdout of a command run without a shell.
struct CommandResult {
  int status = -1;
  std::string out;
};

/// Runs argv[0] (searched in PATH) with stderr discarded.
CommandResult run_command(const std::vector<std::string>& argv);

/// The full path of `name` in PATH, if it is there.
std::optional<stdfs::path> find_program(const std::string& name);

}  // namespace crt::test
