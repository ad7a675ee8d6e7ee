#include "runtime/terminal.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/error.hpp"

namespace crt::runtime {

PodTerminal::PodTerminal(int user_in, int user_out) : user_in_(user_in), user_out_(user_out) {
  master_ = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!master_) throw_errno("opening a pseudo-terminal for the app");
  char name[128];
  if (::grantpt(master_.get()) < 0 || ::unlockpt(master_.get()) < 0 ||
      ::ptsname_r(master_.get(), name, sizeof name) != 0)
    throw_errno("setting up a pseudo-terminal for the app");
  slave_ = UniqueFd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave_) throw_errno("opening the pseudo-terminal " + quote(name));
  termios t{};
  if (::tcgetattr(user_in_, &t) == 0) (void)::tcsetattr(slave_.get(), TCSANOW, &t);
  copy_size();
}

PodTerminal::~PodTerminal() {
  if (saved_) (void)::tcsetattr(user_in_, TCSADRAIN, &*saved_);
}

void PodTerminal::raw() {
  termios t{};
  if (saved_ || ::tcgetattr(user_in_, &t) < 0) return;
  saved_ = t;
  ::cfmakeraw(&t);
  if (::tcsetattr(user_in_, TCSANOW, &t) < 0) saved_.reset();
}

void PodTerminal::copy_size() const {
  winsize ws{};
  if (::ioctl(user_out_, TIOCGWINSZ, &ws) < 0 && ::ioctl(user_in_, TIOCGWINSZ, &ws) < 0) return;
  (void)::ioctl(master_.get(), TIOCSWINSZ, &ws);
}

}  // namespace crt::runtime
