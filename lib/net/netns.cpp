#include "net/netns.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/error.hpp"
#include "common/fd_passing.hpp"
#include "common/subprocess.hpp"
#include "mount/mounts.hpp"

namespace crt::net {

namespace {

/// What the child doing the work in the host's mount namespace reports.
struct Report {
  int err = 0;
  char step[120] = {};
};

/// The child's side: sends one report, with an fd or not, and exits.
class Reply {
 public:
  explicit Reply(int sock) : sock_(sock) {}

  [[noreturn]] void fail(const char* step) {
    Report r;
    r.err = errno != 0 ? errno : EIO;
    std::strncpy(r.step, step, sizeof r.step - 1);
    send(r, -1);
    _exit(1);
  }

  [[noreturn]] void done(int fd = -1) {
    send(Report{}, fd);
    _exit(0);
  }

 private:
  void send(const Report& r, int fd) { (void)send_with_fd(sock_, &r, sizeof r, fd, MSG_NOSIGNAL); }

  int sock_;
};

/// Runs `body` in a child process in the host's mount namespace (crt itself
/// works in a private one whose mounts nobody else sees); returns the fd the
/// child sent, if any. The child only makes system calls: no exception
/// crosses the fork.
template <typename Body>
UniqueFd in_host_mount_namespace(const std::string& what, Body body) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw_errno(what + ": creating a socket pair");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno(what + ": forking");
  if (pid == 0) {
    mine.release();  // never closed twice: the child ends in _exit
    Reply reply(theirs.get());
    int host = mount::original_mount_namespace();
    if (host >= 0 && ::setns(host, CLONE_NEWNS) < 0) reply.fail("entering the host's mount namespace");
    body(reply);
    reply.done();
  }
  theirs.reset();
  Report r;
  int got = -1;
  ssize_t n = receive_with_fd(mine.get(), &r, sizeof r, &got, 0);
  int status = 0;
  (void)wait_child(pid, &status);
  UniqueFd fd(got);
  if (n != static_cast<ssize_t>(sizeof r)) throw Error(what + ": the helper process died");
  if (r.err != 0) throw SystemError(r.err, what + ": " + r.step);
  return fd;
}

/// Makes /run/netns a shared mount point (bind-mounting it on itself if it
/// is not a mount point), as `ip netns add` does: a namespace unmounted there
/// then disappears from every mount namespace that copied it.
void ensure_shared_netns_dir(Reply& reply) {
  if (::mkdir(kNetnsDir, 0755) < 0 && errno != EEXIST) reply.fail("creating '/run/netns'");
  int dir = ::open(kNetnsDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0 || ::flock(dir, LOCK_EX) < 0) reply.fail("locking '/run/netns'");
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return;
  if (errno != EINVAL) reply.fail("making '/run/netns' a shared mount");
  if (::mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) < 0) reply.fail("bind-mounting '/run/netns'");
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) < 0) reply.fail("making '/run/netns' a shared mount");
}

/// A new network namespace has "lo", down; pods expect it up (nspawn only
/// does it for namespaces of its own).
void bring_loopback_up(Reply& reply) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) reply.fail("bringing up its loopback interface");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) < 0) reply.fail("bringing up its loopback interface");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) < 0) reply.fail("bringing up its loopback interface");
  ::close(s);
}

bool is_net_namespace(int fd) {
  struct statfs sfs {};
  if (::fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC) return false;
  return ::ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
}

/// The network namespace a link of /proc (a process's ns/net, an fd) names,
/// by inode number; 0 for anything else. One opened through /proc reads as
/// "net:[INODE]", one opened through its bind mount as that path.
ino_t net_namespace_named(const std::filesystem::path& link) {
  std::error_code ec;
  std::string target = std::filesystem::read_symlink(link, ec).string();
  if (ec) return 0;
  if (target.rfind("net:[", 0) == 0) return static_cast<ino_t>(std::strtoull(target.c_str() + 5, nullptr, 10));
  if (target.rfind(std::string(kNetnsDir) + "/", 0) != 0) return 0;
  struct statfs sfs {};
  struct stat st {};
  if (::statfs(link.c_str(), &sfs) < 0 || sfs.f_type != NSFS_MAGIC || ::stat(link.c_str(), &st) < 0) return 0;
  return st.st_ino;
}

}  // namespace

std::string NetNs::proc_path() const { return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd.get()); }

NetNs create_netns(const std::string& name) {
  std::string path = (std::filesystem::path(kNetnsDir) / name).string();
  UniqueFd fd = in_host_mount_namespace("creating network namespace " + quote(path), [&](Reply& reply) {
    ensure_shared_netns_dir(reply);
    int f = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (f < 0) reply.fail(errno == EEXIST ? "it exists already" : "creating the mount point");
    ::close(f);
    if (::unshare(CLONE_NEWNET) < 0) {
      int e = errno;
      ::unlink(path.c_str());
      errno = e;
      reply.fail("creating the namespace");
    }
    if (::mount("/proc/self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) {
      int e = errno;
      ::unlink(path.c_str());
      errno = e;
      reply.fail("bind-mounting it");
    }
    bring_loopback_up(reply);
    int ns = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns < 0) reply.fail("opening it");
    reply.done(ns);
  });
  if (!fd) throw Error("creating network namespace " + quote(path) + ": no namespace came back");
  return {name, std::move(fd)};
}

std::optional<NetNs> open_netns(const std::string& name) {
  std::string path = (std::filesystem::path(kNetnsDir) / name).string();
  UniqueFd fd = in_host_mount_namespace("opening network namespace " + quote(path), [&](Reply& reply) {
    int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) {
      if (errno == ENOENT) reply.done();
      reply.fail("opening it");
    }
    if (!is_net_namespace(f)) reply.done();
    reply.done(f);
  });
  if (!fd) return std::nullopt;
  return NetNs{name, std::move(fd)};
}

void remove_netns(const std::string& name) {
  std::string path = (std::filesystem::path(kNetnsDir) / name).string();
  in_host_mount_namespace("removing network namespace " + quote(path), [&](Reply& reply) {
    // Whatever is stacked there, until nothing is mounted.
    for (int i = 0; i < 16 && ::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0; ++i) {
    }
    if (errno != EINVAL && errno != ENOENT) reply.fail("unmounting it");
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) reply.fail("removing its mount point");
    reply.done();
  });
}

std::unordered_set<ino_t> namespaces_in_use() {
  std::unordered_set<ino_t> in_use;
  std::string self = std::to_string(::getpid());
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = proc.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
    if (ino_t ino = net_namespace_named(proc.path() / "ns" / "net")) in_use.insert(ino);
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec))
      if (ino_t ino = net_namespace_named(fd.path())) in_use.insert(ino);
  }
  return in_use;
}

bool namespace_in_use(int ns_fd) {
  struct stat st {};
  if (::fstat(ns_fd, &st) < 0) return true;
  return namespaces_in_use().count(st.st_ino) > 0;
}

}  // namespace crt::net
