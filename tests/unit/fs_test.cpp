#include "common/fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::fs {
namespace {

using test::list_dir;
using test::read_text;
using test::Scratch;
using test::write_text;

TEST(Fs, WriteFileAtomicReplacesContentAndSetsMode) {
  Scratch s;
  write_file_atomic(s / "f", "one");
  write_file_atomic(s / "f", "two", 0600);
  EXPECT_EQ(read_text(s / "f"), "two");
  struct stat st {};
  ASSERT_EQ(::stat((s / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(list_dir(s.path()), std::vector<std::string>{"f"}) << "no temp file is left behind";
}

TEST(Fs, WriteFileAtomicIntoMissingDirectoryThrows) {
  Scratch s;
  EXPECT_THROW(write_file_atomic(s / "no" / "f", "x"), Error);
}

TEST(Fs, MakeDirsCreatesParentsAndAcceptsExisting) {
  Scratch s;
  make_dirs(s / "a" / "b" / "c", 0700);
  make_dirs(s / "a" / "b" / "c", 0700);
  EXPECT_TRUE(std::filesystem::is_directory(s / "a" / "b" / "c"));
}

TEST(Fs, MakeDirsOverAFileThrows) {
  Scratch s;
  write_text(s / "f", "");
  EXPECT_THROW(make_dirs(s / "f"), Error);
}

TEST(Fs, RemoveTreeRemovesNestedContentButNotSymlinkTargets) {
  Scratch s;
  write_text(s / "keep" / "precious", "x");
  write_text(s / "t" / "a" / "b", "y");
  std::filesystem::create_directory_symlink(s / "keep", s / "t" / "link");
  remove_tree(s / "t");
  EXPECT_FALSE(std::filesystem::exists(s / "t"));
  EXPECT_EQ(read_text(s / "keep" / "precious"), "x");
}

// A tree deeper than the open-file limit (a hostile layer's, say) is
// removed all the same; so is a wide one, and a file or empty directory.
TEST(Fs, RemoveTreeRemovesATreeDeeperThanTheOpenFileLimit) {
  Scratch s;
  int top = ::open(s.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(top, 0);
  ASSERT_EQ(::mkdirat(top, "t", 0755), 0);
  int fd = ::openat(top, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(::mkdirat(fd, "d", 0755), 0);
    int f = ::openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ::close(f);
    ASSERT_EQ(::mkdirat(fd, "e", 0755), 0);
    int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::close(fd);
    fd = next;
  }
  ::close(fd);
  ::close(top);
  for (int i = 0; i < 50; ++i) write_text(s / "t" / "wide" / std::to_string(i) / "f", "x");
  struct rlimit was {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &was), 0);
  struct rlimit low = was;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::string error;
  try {
    remove_tree(s / "t");
  } catch (const Error& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_NOFILE, &was);
  EXPECT_EQ(error, "");
  EXPECT_FALSE(std::filesystem::exists(s / "t"));
  write_text(s / "file", "x");
  remove_tree(s / "file");
  std::filesystem::create_directory(s / "empty");
  remove_tree(s / "empty");
  EXPECT_TRUE(list_dir(s.path()).empty());
}

TEST(Fs, RemoveTreeRefusesToGoIntoAMountPoint) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  Scratch s;
  write_text(s / "t" / "a" / "f", "x");
  std::filesystem::create_directories(s / "t" / "a" / "m");
  ASSERT_EQ(::mount("tmpfs", (s / "t" / "a" / "m").c_str(), "tmpfs", 0, nullptr), 0);
  write_text(s / "t" / "a" / "m" / "precious", "x");
  std::string error;
  try {
    remove_tree(s / "t");
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_EQ(error, "'" + (s / "t" / "a" / "m").string() + "' is a mount point; refusing to remove it");
  EXPECT_EQ(read_text(s / "t" / "a" / "m" / "precious"), "x");
  ::umount2((s / "t" / "a" / "m").c_str(), MNT_DETACH);
}

TEST(Fs, RemoveTreeOfMissingPathIsFine) {
  Scratch s;
  EXPECT_NO_THROW(remove_tree(s / "none"));
}

TEST(Fs, TempDirIsRemovedUnlessReleased) {
  Scratch s;
  std::filesystem::path kept;
  std::filesystem::path gone;
  {
    TempDir a(s / "a");
    TempDir b(s / "b");
    write_text(a.path() / "x", "");
    gone = a.path();
    kept = b.release();
  }
  EXPECT_FALSE(std::filesystem::exists(gone));
  EXPECT_TRUE(std::filesystem::is_directory(kept));
}

/// A pipe, both ends closed on destruction.
struct Pipe {
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      r = UniqueFd(fds[0]);
      w = UniqueFd(fds[1]);
    }
  }
  UniqueFd r, w;
};

TEST(Fs, WriteAllNoexceptWaitsWhileANonBlockingPipeIsFull) {
  Pipe p;
  ASSERT_TRUE(p.w.valid());
  ASSERT_EQ(::fcntl(p.w.get(), F_SETFL, O_NONBLOCK), 0);
  const std::string data(1 << 20, 'x');  // more than a pipe holds
  std::string got;
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; got.size() < data.size() && (n = ::read(p.r.get(), buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<size_t>(n));
  });
  EXPECT_EQ(write_all_noexcept(p.w.get(), data), 0);
  reader.join();
  EXPECT_EQ(got, data);
}

TEST(Fs, WriteAllNoexceptSaysTheErrnoInsteadOfThrowing) {
  std::signal(SIGPIPE, SIG_IGN);
  Pipe p;
  ASSERT_TRUE(p.r.valid());
  p.r = UniqueFd();
  EXPECT_EQ(write_all_noexcept(p.w.get(), "x"), EPIPE);
  EXPECT_EQ(write_all_noexcept(-1, "x"), EBADF);
  EXPECT_EQ(write_all_noexcept(-1, ""), 0);
}

TEST(Fs, WriteAllThrowsWithWhatAndTheErrno) {
  try {
    write_all(-1, "x", "writing 'f'");
    ADD_FAILURE() << "no error";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.code(), EBADF);
    EXPECT_EQ(std::string(e.what()).rfind("writing 'f': ", 0), 0u) << e.what();
  }
}

TEST(Fs, OpenInRootResolvesAbsoluteSymlinksInsideTheRoot) {
  Scratch s;
  write_text(s / "root" / "etc" / "passwd", "inside\n");
  std::filesystem::create_symlink("/etc/passwd", s / "root" / "link");
  UniqueFd root = open_fd(s / "root", O_RDONLY | O_DIRECTORY);
  UniqueFd fd = open_in_root(root.get(), "/link", O_RDONLY);
  EXPECT_EQ(read_file("/proc/self/fd/" + std::to_string(fd.get())), "inside\n");
  UniqueFd up = open_in_root(root.get(), "../../../../etc/passwd", O_RDONLY);
  EXPECT_EQ(read_file("/proc/self/fd/" + std::to_string(up.get())), "inside\n");
}

TEST(Fs, OpenInRootMissingFileIsSystemErrorEnoent) {
  Scratch s;
  std::filesystem::create_directory(s / "root");
  UniqueFd root = open_fd(s / "root", O_RDONLY | O_DIRECTORY);
  try {
    open_in_root(root.get(), "nope", O_RDONLY);
    FAIL() << "opened a missing file";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.code(), ENOENT);
  }
}

TEST(Fs, OpenInRootThroughDotDotOutlastsRenamesElsewhere) {
  // A lookup that takes ".." fails with EAGAIN when any rename or mount on
  // the machine races it; busybox's /usr/bin/wc -> ../../bin/busybox is such
  // a lookup, and pods mount all the time.
  Scratch s;
  write_text(s / "root" / "bin" / "busybox", "");
  std::filesystem::create_directories(s / "root" / "usr" / "bin");
  std::filesystem::create_symlink("../../bin/busybox", s / "root" / "usr" / "bin" / "wc");
  write_text(s / "a", "");
  UniqueFd root = open_fd(s / "root", O_PATH | O_DIRECTORY);
  std::atomic<bool> done{false};
  std::thread renamer([&] {
    std::string a = (s / "a").string();
    std::string b = (s / "b").string();
    while (!done) {
      ::rename(a.c_str(), b.c_str());
      ::rename(b.c_str(), a.c_str());
    }
  });
  int failures = 0;
  for (int i = 0; i < 20000; ++i) {
    try {
      open_in_root(root.get(), "/usr/bin/wc", O_PATH);
    } catch (const SystemError&) {
      ++failures;
    }
  }
  done = true;
  renamer.join();
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace crt::fs
