#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace crt::test {

Process::Process(const std::vector<std::string>& argv, const RunOptions& opts) {
  int out[2], err[2], in[2];
  if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0 || ::pipe2(in, O_CLOEXEC) < 0)
    throw std::runtime_error("pipe failed");
  std::vector<std::string> env;
  // An extra variable replaces the one of that name (getenv() takes the first).
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (char** e = environ; *e != nullptr; ++e)
    if (std::none_of(opts.env.begin(), opts.env.end(), [&](const auto& x) { return key(x) == key(*e); }))
      env.emplace_back(*e);
  env.insert(env.end(), opts.env.begin(), opts.env.end());
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  // The child gets SIGINT and SIGQUIT as from a terminal, however the tests
  // were started: a shell without job control starts its background
  // commands with both ignored, and a crt that ignores SIGINT until it
  // watches for it (its first milliseconds) would miss a test's early
  // Ctrl-C. Blocked until then: the kernel drops an ignored signal only
  // when it is not blocked.
  sigset_t interrupts, old;
  sigemptyset(&interrupts);
  sigaddset(&interrupts, SIGINT);
  sigaddset(&interrupts, SIGQUIT);
  ::pthread_sigmask(SIG_BLOCK, &interrupts, &old);
  pid_ = ::fork();
  if (pid_ == 0) {
    if (opts.new_session) ::setsid();
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGQUIT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid_ < 0) throw std::runtime_error("fork failed");
  ::close(out[1]);
  ::close(err[1]);
  ::close(in[0]);
  if (!opts.input.empty()) (void)!::write(in[1], opts.input.data(), opts.input.size());
  ::close(in[1]);
  out_ = out[0];
  err_ = err[0];
  deadline_ = std::chrono::steady_clock::now() + opts.timeout;
}

Process::~Process() {
  if (!done_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (out_ >= 0) ::close(out_);
  if (err_ >= 0) ::close(err_);
}

void Process::signal(int sig) const { ::kill(pid_, sig); }

void Process::pump(int timeout_ms) {
  pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
  int n = ::poll(fds, 2, timeout_ms);
  if (n <= 0) return;
  char buf[65536];
  for (int i = 0; i < 2; ++i) {
    if (fds[i].revents == 0) continue;
    ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
    if (r > 0) (i == 0 ? result_.out : result_.err).append(buf, static_cast<size_t>(r));
    if (r == 0) {
      ::close(fds[i].fd);
      (i == 0 ? out_ : err_) = -1;
    }
  }
}

const std::string& Process::read_for(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until && (out_ >= 0 || err_ >= 0)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pump(static_cast<int>(std::max<long>(1, left.count())));
  }
  return result_.out;
}

Result Process::wait() {
  if (done_) return result_;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      while (out_ >= 0 || err_ >= 0) pump(1000);
      result_.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      result_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      done_ = true;
      return result_;
    }
    if (std::chrono::steady_clock::now() > deadline_) {
      ::kill(pid_, SIGKILL);
      result_.timed_out = true;
      deadline_ = std::chrono::steady_clock::now() + std::chrono::hours(1);
    }
    if (out_ >= 0 || err_ >= 0)
      pump(20);
    else
      ::usleep(5000);
  }
}

Result run(const std::vector<std::string>& argv, const RunOptions& opts) { return Process(argv, opts).wait(); }

Result run_on_terminal(const std::vector<std::string>& argv, std::chrono::milliseconds idle) {
  TerminalProcess t(argv);
  while (t.read_for(idle) > 0) {
  }
  Result r;
  r.status = t.wait();
  r.out = t.shown();
  return r;
}

TerminalProcess::TerminalProcess(const std::vector<std::string>& argv, unsigned short rows, unsigned short cols) {
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  std::vector<std::string> copy = argv;
  std::vector<char*> a;
  for (auto& s : copy) a.push_back(s.data());
  a.push_back(nullptr);
  pid_ = ::forkpty(&master_, nullptr, nullptr, rows != 0 ? &size : nullptr);
  if (pid_ < 0) throw std::runtime_error(std::string("forkpty: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::execv(a[0], a.data());
    _exit(127);
  }
}

TerminalProcess::~TerminalProcess() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) ::close(master_);
}

int TerminalProcess::read_for(std::chrono::milliseconds timeout) {
  if (master_ < 0) return -1;
  pollfd p{master_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return 0;
  char buf[4096];
  ssize_t n = ::read(master_, buf, sizeof buf);
  if (n <= 0) return -1;  // EIO once nothing holds the terminal
  shown_.append(buf, static_cast<size_t>(n));
  return 1;
}

bool TerminalProcess::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (shown_.find(needle) == std::string::npos && std::chrono::steady_clock::now() < until)
    if (read_for(std::chrono::milliseconds(50)) < 0) break;
  return shown_.find(needle) != std::string::npos;
}

void TerminalProcess::type(const std::string& keys) const {
  if (::write(master_, keys.data(), keys.size()) != static_cast<ssize_t>(keys.size()))
    throw std::runtime_error(std::string("typing on the terminal: ") + std::strerror(errno));
}

void TerminalProcess::hang_up() {
  ::close(master_);
  master_ = -1;
}

int TerminalProcess::wait() {
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return -1;
  reaped_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace crt::test
