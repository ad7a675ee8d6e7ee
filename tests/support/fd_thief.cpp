// An app that tries to take the descriptors of other processes of its own
// (crt enter's, before its command runs): it opens /proc/PID/fd/N of every
// process but itself, over and over, for argv[1] seconds. A host cgroup or
// sysfs directory or file it opens that way (crt's, which the app must
// never reach) it names on stderr, and exits 3; else it exits 0.

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

int main(int argc, char** argv) {
  time_t until = std::time(nullptr) + (argc > 1 ? std::atoi(argv[1]) : 10);
  pid_t self = ::getpid();
  while (std::time(nullptr) < until) {
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return 2;
    while (dirent* e = ::readdir(proc)) {
      pid_t pid = std::atoi(e->d_name);
      if (pid <= 0 || pid == self) continue;
      for (int n = 3; n < 64; ++n) {
        std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(n);
        int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
        if (fd < 0) continue;
        struct statfs fs {};
        bool host = ::fstatfs(fd, &fs) == 0 &&
                    (fs.f_type == CGROUP2_SUPER_MAGIC || fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC);
        ::close(fd);
        if (host) {
          char target[4096] = {};
          (void)!::readlink(path.c_str(), target, sizeof target - 1);
          std::fprintf(stderr, "took %s: %s\n", path.c_str(), target);
          return 3;
        }
      }
    }
    ::closedir(proc);
  }
  return 0;
}
