#include "runtime/terminal.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <string>

#include "common/error.hpp"
#include "common/subprocess.hpp"

namespace crt::runtime {

PodTerminal::PodTerminal(int user_in, int user_out) : user_in_(user_in), user_out_(user_out) {
  master_ = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!master_) throw_errno("opening a pseudo-terminal for the app");
  char name[128];
  if (::grantpt(master_.get()) < 0 || ::unlockpt(master_.get()) < 0)
    throw_errno("setting up a pseudo-terminal for the app");
  if (int err = ::ptsname_r(master_.get(), name, sizeof name); err != 0)
    throw_errno(err, "naming the app's pseudo-terminal");
  slave_ = UniqueFd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave_) throw_errno("opening the pseudo-terminal " + quote(name));
  termios t{};
  if (::tcgetattr(user_in_, &t) == 0) (void)::tcsetattr(slave_.get(), TCSANOW, &t);
  copy_size();
}

PodTerminal::~PodTerminal() {
  if (saved_) (void)::tcsetattr(user_in_, TCSADRAIN, &*saved_);
  guard_ = UniqueFd();
  if (guardian_ > 0) (void)wait_child(guardian_, nullptr);
}

void PodTerminal::raw() {
  termios t{};
  if (saved_ || ::tcgetattr(user_in_, &t) < 0) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("creating a pipe");
  UniqueFd wait_end(fds[0]), guard(fds[1]);
  termios saved = t;
  rlimit files{};
  int max_fd = ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                   ? static_cast<int>(std::min<rlim_t>(files.rlim_cur, 1 << 20))
                   : 1 << 16;
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("starting the terminal's guardian");
  if (pid == 0) {
    // Only async-signal-safe calls: crt has threads. Signals stay blocked
    // as in crt (SIGTTOU too: the shell may have the terminal's foreground
    // back by then); the end of the pipe is the only news. The guardian
    // holds the terminal (as fd 0) and the pipe's read end (fd 1) alone:
    // not the write end, nor the pod's sockets, locks or crt's pipes.
    sigset_t ttou;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    ::sigprocmask(SIG_BLOCK, &ttou, nullptr);
    ::prctl(PR_SET_NAME, "crt-tty-restore");
    if (user_in_ != 0) ::dup2(user_in_, 0);
    ::dup2(wait_end.get(), 1);
    ::close(guard.get());  // else the pipe never ends
    ::close(2);
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);  // Linux < 5.9
    char c;
    while (::read(1, &c, 1) < 0 && errno == EINTR) {
    }
    (void)::tcsetattr(0, TCSANOW, &saved);
    _exit(0);
  }
  guardian_ = pid;
  guard_ = std::move(guard);
  saved_ = saved;
  ::cfmakeraw(&t);  // output too: the app's terminal has made its "\r\n"s
  if (::tcsetattr(user_in_, TCSANOW, &t) < 0) saved_.reset();
}

void PodTerminal::copy_size() const {
  winsize ws{};
  if (::ioctl(user_out_, TIOCGWINSZ, &ws) < 0 && ::ioctl(user_in_, TIOCGWINSZ, &ws) < 0) return;
  (void)::ioctl(master_.get(), TIOCSWINSZ, &ws);
}

}  // namespace crt::runtime
