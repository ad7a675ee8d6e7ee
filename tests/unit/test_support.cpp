#include "test_support.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/error.hpp"

namespace crt::test {

Scratch::Scratch() : dir_(stdfs::temp_directory_path() / "crt-unit") {}

Tmpfs::Tmpfs(const stdfs::path& path, const std::string& options) : path_(path) {
  if (::geteuid() != 0) return;
  stdfs::create_directories(path);
  mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
}

Tmpfs::~Tmpfs() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

void write_text(const stdfs::path& path, const std::string& content, mode_t mode) {
  stdfs::create_directories(path.parent_path());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("creating " + quote(path.string()));
  UniqueFd owned(fd);
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    throw_errno("writing " + quote(path.string()));
  if (::fchmod(fd, mode) < 0) throw_errno("chmod " + quote(path.string()));
}

std::string read_text(const stdfs::path& path) { return fs::read_file(path); }

std::vector<std::string> list_dir(const stdfs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec)) names.push_back(de.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

struct stat stat_of(const stdfs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

void set_mtime(const stdfs::path& path, time_t seconds) {
  struct timespec ts[2] = {{seconds, 0}, {seconds, 0}};
  if (::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("utimensat " + path.string());
}

TarMember tar_file(std::string path, std::string content, mode_t mode) {
  return {TarMember::Type::kFile, std::move(path), std::move(content), mode, {}, {}, {}};
}
TarMember tar_dir(std::string path) { return {TarMember::Type::kDir, std::move(path), "", 0755, {}, {}, {}}; }
TarMember tar_symlink(std::string path, std::string target) {
  return {TarMember::Type::kSymlink, std::move(path), std::move(target), 0777, {}, {}, {}};
}
TarMember tar_hardlink(std::string path, std::string target) {
  return {TarMember::Type::kHardlink, std::move(path), std::move(target), 0644, {}, {}, {}};
}

namespace {

struct ArchiveWriter {
  archive* a = archive_write_new();
  ~ArchiveWriter() { archive_write_free(a); }
};

void check_archive(archive* a, int rc) {
  if (rc != ARCHIVE_OK) throw std::runtime_error(std::string("libarchive: ") + archive_error_string(a));
}

}  // namespace

void write_tar(const stdfs::path& path, const std::vector<TarMember>& members) {
  ArchiveWriter w;
  check_archive(w.a, archive_write_set_format_pax_restricted(w.a));
  check_archive(w.a, archive_write_open_filename(w.a, path.c_str()));
  for (const auto& m : members) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), m.path.c_str());
    archive_entry_set_mtime(e.get(), 1000000000, 0);
    switch (m.type) {
      case TarMember::Type::kFile:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.data.size()));
        break;
      case TarMember::Type::kDir: archive_entry_set_filetype(e.get(), AE_IFDIR); break;
      case TarMember::Type::kSymlink:
        archive_entry_set_filetype(e.get(), AE_IFLNK);
        archive_entry_set_symlink(e.get(), m.data.c_str());
        break;
      case TarMember::Type::kHardlink:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_hardlink(e.get(), m.data.c_str());
        archive_entry_set_size(e.get(), 0);
        break;
      case TarMember::Type::kZeroCharDevice:
        archive_entry_set_filetype(e.get(), AE_IFCHR);
        archive_entry_set_rdev(e.get(), 0);
        break;
    }
    for (const auto& [name, value] : m.xattrs)
      archive_entry_xattr_add_entry(e.get(), name.c_str(), value.data(), value.size());
    archive_entry_set_perm(e.get(), m.mode);
    if (!m.acl.empty() &&
        archive_entry_acl_from_text(e.get(), m.acl.c_str(), ARCHIVE_ENTRY_ACL_TYPE_ACCESS) != ARCHIVE_OK)
      throw std::runtime_error("libarchive: taking the ACL " + m.acl);
    if (!m.default_acl.empty() &&
        archive_entry_acl_from_text(e.get(), m.default_acl.c_str(), ARCHIVE_ENTRY_ACL_TYPE_DEFAULT) != ARCHIVE_OK)
      throw std::runtime_error("libarchive: taking the ACL " + m.default_acl);
    archive_entry_set_uid(e.get(), ::geteuid());
    archive_entry_set_gid(e.get(), ::getegid());
    check_archive(w.a, archive_write_header(w.a, e.get()));
    if (m.type == TarMember::Type::kFile && !m.data.empty() &&
        archive_write_data(w.a, m.data.data(), m.data.size()) != static_cast<la_ssize_t>(m.data.size()))
      throw std::runtime_error("libarchive: writing data");
  }
  check_archive(w.a, archive_write_close(w.a));
}

ScopedEnv::ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
  if (const char* v = std::getenv(name)) old_ = v;
  if (value)
    ::setenv(name, value->c_str(), 1);
  else
    ::unsetenv(name);
}

ScopedEnv::~ScopedEnv() {
  if (old_)
    ::setenv(name_, old_->c_str(), 1);
  else
    ::unsetenv(name_);
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

Outcome outcome_in_child(const std::function<void()>& body) {
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    int code = 0;
    try {
      body();
    } catch (const Error&) {
      code = 1;
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  int st = 0;
  if (::waitpid(pid, &st, 0) < 0) throw_errno("waitpid");
  if (!WIFEXITED(st)) return Outcome::kCrashed;
  switch (WEXITSTATUS(st)) {
    case 0: return Outcome::kReturned;
    case 1: return Outcome::kThrewError;
    default: return Outcome::kThrewOther;
  }
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kReturned: return "returned normally";
    case Outcome::kThrewError: return "threw crt::Error";
    case Outcome::kThrewOther: return "threw something else";
    case Outcome::kCrashed: return "crashed";
  }
  return "?";
}

std::optional<stdfs::path> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    stdfs::path p = stdfs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

CommandResult run_command(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("pipe");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // NOLINT: execvp's signature
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  CommandResult r;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

}  // namespace crt::test
