#include "common/state_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace crt {

namespace {

namespace stdfs = std::filesystem;

/// What is root's may be changed by root alone. The user crt runs as may
/// own it too (sshd's rule): crt gains no rights over it then.
bool owned_well(const struct stat& st) { return st.st_uid == 0 || st.st_uid == ::geteuid(); }

[[noreturn]] void refuse(const stdfs::path& p, const std::string& what, const std::string& fix) {
  throw Error("crt's state directory: " + quote(p.string()) + " " + what +
              ": another user could make crt write where they choose, as root (" + fix + ")");
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

/// A directory of crt's state, `st` its lstat().
void check_dir(const stdfs::path& p, const struct stat& st) {
  if (!S_ISDIR(st.st_mode))
    throw Error("crt's state directory: " + quote(p.string()) + " is " +
                (S_ISREG(st.st_mode) ? std::string("a regular file") : fs::file_kind(st.st_mode)) +
                ", not a directory");
  if (!owned_well(st))
    refuse(p, "is owned by uid " + std::to_string(st.st_uid) + ", not root",
           "if it is crt's: chown root " + quote(p.string()) + "; else give another --dir");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    refuse(p,
           std::string("is writable by ") + ((st.st_mode & S_IWOTH) != 0 ? "others" : "its group") + " (mode " +
               octal(st.st_mode) + ")",
           "chmod go-w " + quote(p.string()));
}

/// One of kStateSubdirs, where crt would make it.
void check_subdir(const stdfs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) < 0) {
    if (errno == ENOENT) return;
    throw_errno("inspecting " + quote(p.string()));
  }
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    stdfs::path to = stdfs::read_symlink(p, ec);
    refuse(p, "is a symlink" + (ec ? std::string() : " to " + quote(to.string())),
           "remove it, and crt makes the directory anew; or give --dir where the state really is");
  }
  check_dir(p, st);
}

/// Makes the state directory `dir` unless it is there: 0755 whatever the
/// umask (a group's write that a umask 002 leaves would be refused next).
void make_state_dir(const stdfs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) < 0) {
    if (errno == EEXIST) return;
    if (errno != ENOENT) throw_errno("creating crt's state directory " + quote(dir.string()));
    fs::make_dirs(dir.parent_path());
    if (::mkdir(dir.c_str(), 0755) < 0) {
      if (errno == EEXIST) return;
      throw_errno("creating crt's state directory " + quote(dir.string()));
    }
  }
  // Never through a symlink put in its place meanwhile.
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd || ::fchmod(fd.get(), 0755) < 0) throw_errno("setting the mode of " + quote(dir.string()));
}

}  // namespace

void check_state_dir(const stdfs::path& dir) {
  // An admin's /var/lib/crt -> /srv/crt is fine, as root's: each link of a
  // chain is looked at, for a link another user made could lead anywhere.
  stdfs::path p = dir;
  struct stat st {};
  for (int links = 0;; ++links) {
    if (::lstat(p.c_str(), &st) < 0) {
      if (errno == ENOENT) return;  // crt makes it, root's
      throw_errno("inspecting crt's state directory " + quote(p.string()));
    }
    if (!S_ISLNK(st.st_mode)) break;
    if (!owned_well(st))
      refuse(p, "is a symlink owned by uid " + std::to_string(st.st_uid) + ", not root",
             "make it again as root (ln -sfn TARGET " + quote(p.string()) + "), or give --dir where it leads");
    if (links == 40) throw Error("crt's state directory " + quote(dir.string()) + ": too many levels of symlinks");
    std::error_code ec;
    stdfs::path to = stdfs::read_symlink(p, ec);
    if (ec) throw_errno(ec.value(), "reading the symlink " + quote(p.string()));
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  check_dir(p, st);
  for (const char* name : kStateSubdirs) check_subdir(p / name);
}

stdfs::path make_state_subdir(const stdfs::path& dir, const std::string& name, mode_t mode) {
  // Checked again once made: what another user put there meanwhile (the
  // state directory, made where they may write) is refused before crt
  // writes in it.
  check_state_dir(dir);
  make_state_dir(dir);
  fs::make_dirs(dir / name, mode);
  check_state_dir(dir);
  return dir / name;
}

}  // namespace crt
