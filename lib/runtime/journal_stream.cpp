#include "runtime/journal_stream.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/subprocess.hpp"

namespace crt::runtime {

std::string journal_stream_header(const std::string& app) {
  // identifier, unit, priority (LOG_DAEMON|LOG_INFO, systemd's default
  // SyslogFacility= and SyslogLevel=), level prefix, and forwarding to
  // syslog, kmsg and the console (none).
  return app + "\n" + app + ".service\n30\n1\n0\n0\n0\n";
}

namespace {

/// "/proc/", `pid` in decimal and `suffix` into `buf`; false if too long.
bool proc_path(char* buf, size_t size, pid_t pid, const char* suffix) noexcept {
  char digits[16];
  size_t n = 0;
  for (auto v = static_cast<unsigned long>(pid); n == 0 || v > 0; v /= 10)
    digits[n++] = static_cast<char>('0' + v % 10);
  const size_t prefix = 6;  // "/proc/"
  size_t len = prefix + n + std::strlen(suffix);
  if (len >= size) return false;
  std::memcpy(buf, "/proc/", prefix);
  for (size_t i = 0; i < n; ++i) buf[prefix + i] = digits[n - 1 - i];
  std::memcpy(buf + prefix + n, suffix, std::strlen(suffix) + 1);
  return true;
}

constexpr const char* kJournalStdout = "/root/run/systemd/journal/stdout";

}  // namespace

int connect_journal_stream(int sock, pid_t leader) noexcept {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  char ns_path[64];
  if (!proc_path(addr.sun_path, sizeof addr.sun_path, leader, kJournalStdout) ||
      !proc_path(ns_path, sizeof ns_path, leader, "/ns/pid"))
    return ENAMETOOLONG;
  int pid_ns = ::open(ns_path, O_RDONLY | O_CLOEXEC);
  if (pid_ns < 0) return errno;
  pid_t child = ::fork();
  if (child < 0) {
    int err = errno;
    ::close(pid_ns);
    return err;
  }
  if (child == 0) {
    if (::setns(pid_ns, CLONE_NEWPID) < 0) _exit(errno);
    pid_t connector = ::fork();  // the first process in the pod's namespace
    if (connector < 0) _exit(errno);
    if (connector == 0) {
      if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) _exit(errno);
      _exit(0);
    }
    int status = 0;
    if (wait_child(connector, &status) < 0) _exit(ECHILD);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD);
  }
  ::close(pid_ns);
  int status = 0;
  if (wait_child(child, &status) < 0 || !WIFEXITED(status)) return ECHILD;
  if (WEXITSTATUS(status) == 0) ::shutdown(sock, SHUT_RD);
  return WEXITSTATUS(status);
}

UniqueFd open_journal_stream(pid_t leader) {
  // Non-blocking already for connect(): a journald whose queue is full is
  // an error, not a wait in crt's loop.
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock) throw_errno("creating a socket for the pod's journal");
  // Only system calls after its fork: crt has threads.
  if (int err = connect_journal_stream(sock.get(), leader); err != 0) {
    if (err == ECHILD) throw Error("connecting to the pod's journal: its helper process died");
    throw_errno(err, "connecting to the pod's journal " + quote("/proc/" + std::to_string(leader) + kJournalStdout));
  }
  return sock;
}

void send_journal_stream_header(int stream, const std::string& app, pid_t leader) {
  std::string header = journal_stream_header(app);
  ssize_t n = send_as(stream, header, JournalSender{leader});
  if (n < 0) throw_errno("writing to the pod's journal");
  // A stream just connected takes a few bytes at once.
  if (static_cast<size_t>(n) != header.size()) throw Error("the pod's journal took only part of a stream's header");
}

ssize_t send_as(int stream, std::string_view data, const JournalSender& sender) {
  ucred cred{sender.pid, sender.uid, sender.gid};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof cred)] = {};
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof cred);
  std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
  ssize_t n;
  while ((n = ::sendmsg(stream, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
  }
  return n;
}

size_t whole_send_size(int stream) {
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  // The kernel's size of a send buffer: half its SO_SNDBUF, less 64.
  size_t half = ::getsockopt(stream, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 && sndbuf > 2 * 1024
                    ? static_cast<size_t>(sndbuf) / 2 - 64
                    : 1024;
  return std::min<size_t>(half, 32 * 1024);
}

std::string_view next_send(std::string_view data, size_t whole) {
  if (data.size() <= whole) return data;
  size_t nl = data.rfind('\n', whole - 1);
  if (nl == std::string_view::npos) nl = data.find('\n', whole);
  return data.substr(0, nl == std::string_view::npos ? data.size() : nl + 1);
}

}  // namespace crt::runtime
