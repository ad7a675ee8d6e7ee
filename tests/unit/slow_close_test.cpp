#include "runtime/slow_close.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/fs.hpp"
#include "test_support.hpp"

namespace crt::runtime {
namespace {

/// The watched inode numbers an inotify descriptor's fdinfo lists.
std::string watched_inodes(const std::string& fdinfo) {
  std::ifstream in(fdinfo);
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("inotify", 0) == 0) out += line.substr(line.find("ino:")) + "\n";
  return out;
}

/// The children of this process with an inotify descriptor whose watches
/// include `needle` ("ino:HEX ").
std::vector<pid_t> children_watching(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    for (pid_t pid; in >> pid;) {
      std::error_code ec;
      for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec))
        if (watched_inodes(fd.path()).find(needle) != std::string::npos) out.push_back(pid);
    }
  }
  return out;
}

std::string ino_needle(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  std::ostringstream ino;
  ino << "ino:" << std::hex << st.st_ino << " ";
  return ino.str();
}

TEST(SlowClose, CopiesAProcesssInotifyDescriptorsAndNoOthers) {
  test::Scratch s;
  std::filesystem::create_directory(s / "a");
  std::filesystem::create_directory(s / "b");
  UniqueFd a(::inotify_init1(IN_CLOEXEC)), b(::inotify_init1(IN_CLOEXEC)), other(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(a && b && other);
  ASSERT_GE(::inotify_add_watch(a.get(), (s / "a").c_str(), IN_CREATE), 0);
  ASSERT_GE(::inotify_add_watch(b.get(), (s / "b").c_str(), IN_CREATE), 0);
  std::vector<UniqueFd> copies = copy_inotify_fds(::getpid());
  // Every copy is an inotify descriptor; one of them is a, one is b.
  int of_a = 0, of_b = 0;
  for (const auto& c : copies) {
    EXPECT_EQ(std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(c.get())), "anon_inode:inotify");
    std::string watches = watched_inodes("/proc/self/fdinfo/" + std::to_string(c.get()));
    of_a += watches.find(ino_needle(s / "a")) != std::string::npos;
    of_b += watches.find(ino_needle(s / "b")) != std::string::npos;
  }
  EXPECT_EQ(of_a, 1);
  EXPECT_EQ(of_b, 1);
  EXPECT_TRUE(copy_inotify_fds(-1).empty());
}

TEST(SlowClose, AChildHoldsTheDescriptorsUntilTold) {
  test::Scratch s;
  UniqueFd in(::inotify_init1(IN_CLOEXEC));
  ASSERT_TRUE(in);
  ASSERT_GE(::inotify_add_watch(in.get(), s.path().c_str(), IN_CREATE), 0);
  UniqueFd go = hold_in_child({in.get()});
  ASSERT_TRUE(go);
  in.reset();
  std::vector<pid_t> holders = children_watching(ino_needle(s.path()));
  ASSERT_EQ(holders.size(), 1U);
  // Told (its pipe closed), it ends.
  go.reset();
  int status = -1;
  EXPECT_EQ(::waitpid(holders[0], &status, 0), holders[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(hold_in_child({}));
}

}  // namespace
}  // namespace crt::runtime
