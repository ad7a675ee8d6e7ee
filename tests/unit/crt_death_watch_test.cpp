#include "runtime/crt_death_watch.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.hpp"
#include "runtime/pod_dir.hpp"
#include "test_support.hpp"

namespace crt::runtime {
namespace {

using std::chrono::milliseconds;

/// In a child of the test: it goes with the test, however that ends
/// (else a watch of a stand-in for nspawn would wait for it for ever).
void end_with_the_test(pid_t test) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != test) _exit(1);
}

/// A stand-in for nspawn that takes no orderly stop: it ignores SIGTERM.
pid_t start_stubborn_process() {
  pid_t test = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    end_with_the_test(test);
    ::signal(SIGTERM, SIG_IGN);
    for (;;) ::pause();
  }
  return pid;
}

/// Kills and reaps the process, whatever the test's outcome.
struct KillAtEnd {
  pid_t pid;
  ~KillAtEnd() {
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) (void)::waitpid(pid, nullptr, 0);
  }
};

/// Writes `size` bytes to `fd`; false on an error (EPIPE: no one holds the
/// other end) or once `until` has passed.
bool write_all(int fd, size_t size, std::chrono::steady_clock::time_point until) {
  std::string chunk(64 * 1024, 'x');
  while (size > 0 && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    ssize_t n = ::send(fd, chunk.data(), std::min(size, chunk.size()), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN) return false;
    if (n > 0) size -= static_cast<size_t>(n);
  }
  return size == 0;
}

/// A listening Unix socket at `path`, as an app's output socket.
UniqueFd listen_at(const std::string& path, sockaddr_un* addr) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  *addr = sockaddr_un{};
  addr->sun_family = AF_UNIX;
  std::strcpy(addr->sun_path, path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(addr), sizeof *addr) < 0 || ::listen(fd.get(), 8) < 0)
    return UniqueFd();
  return fd;
}

/// A connection to the listener at `addr`, as an app's unit makes it.
UniqueFd connect_to(const sockaddr_un& addr) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) return UniqueFd();
  return fd;
}

/// Forks a stand-in for crt run that makes its watch of `nspawn`, hands it
/// what `hand_over` gives, and waits to be killed; returns its PID once the
/// hand-over is done, or -1.
pid_t start_crt_with_watch(pid_t nspawn, const std::filesystem::path& stop_requested, milliseconds stop_timeout,
                           int flush, const std::function<void(StopOnCrtDeath&)>& hand_over) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) return -1;
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  pid_t test = ::getpid();
  pid_t crt = ::fork();
  if (crt == 0) {
    end_with_the_test(test);
    try {
      ready_read = UniqueFd();
      StopOnCrtDeath watch(nspawn, stop_requested, stop_timeout, flush);
      hand_over(watch);
      (void)!::write(ready_write.get(), "x", 1);
      for (;;) ::pause();
    } catch (...) {
    }
    _exit(1);
  }
  ready_write = UniqueFd();
  char x = 0;
  if (crt < 0 || ::read(ready_read.get(), &x, 1) != 1) return -1;
  return crt;
}

// crt reads its apps' stdout and stderr through connections of its own:
// once crt is killed, an app writing (in its stop, say) would die of
// SIGPIPE. Its watch keeps them, reads on until the pod's nspawn has
// ended, and answers app-exited's flush requests meanwhile.
TEST(StopOnCrtDeath, KeepsTheAppsOutputConnectionsUntilThePodHasEnded) {
  if (!StopOnCrtDeath::supported()) GTEST_SKIP() << "no pidfds";
  test::Scratch tmp;
  // First: it holds none of the connections.
  pid_t nspawn = start_stubborn_process();
  ASSERT_GT(nspawn, 0);
  KillAtEnd nspawn_at_end{nspawn};  // which ends the watch
  // Many: each is a message to the watch, which takes them as they come.
  constexpr int kApps = 40;
  std::vector<UniqueFd> app_ends, crt_ends;
  for (int i = 0; i < kApps; ++i) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    app_ends.emplace_back(sv[0]);
    crt_ends.emplace_back(sv[1]);
  }
  sockaddr_un addr{};
  UniqueFd flush = listen_at((tmp.path() / "output-flush").string(), &addr);
  ASSERT_TRUE(flush.valid());
  pid_t crt = start_crt_with_watch(nspawn, tmp.path() / "stop-requested", milliseconds(1000), flush.get(),
                                   [&](StopOnCrtDeath& watch) {
                                     for (auto& fd : app_ends) fd = UniqueFd();
                                     for (int i = 0; i < kApps; ++i)
                                       watch.keep_output(crt_ends[i].get(), "app" + std::to_string(i), 0, 0);
                                   });
  ASSERT_GT(crt, 0);
  for (auto& fd : crt_ends) fd = UniqueFd();
  ::kill(crt, SIGKILL);
  ASSERT_EQ(::waitpid(crt, nullptr, 0), crt);

  // More than a socket's buffer holds: the watch reads it.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < kApps; ++i) EXPECT_TRUE(write_all(app_ends[i].get(), 512 * 1024, until)) << "app" << i;
  UniqueFd request = connect_to(addr);
  ASSERT_TRUE(request.valid());
  ASSERT_EQ(::write(request.get(), "app7\n", 5), 5);
  pollfd p{request.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char answer[8] = {};
  EXPECT_EQ(::read(request.get(), answer, sizeof answer), 1);
  EXPECT_EQ(answer[0], '\n');

  // Once nspawn has ended, the watch lets go: the apps' writes fail.
  ::kill(nspawn, SIGKILL);
  ASSERT_EQ(::waitpid(nspawn, nullptr, 0), nspawn);
  nspawn_at_end.pid = 0;
  bool broken = false;
  for (int i = 0; i < 200 && !broken; ++i) {
    broken = ::send(app_ends[0].get(), "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EPIPE;
    if (!broken) std::this_thread::sleep_for(milliseconds(25));
  }
  EXPECT_TRUE(broken) << "the watch outlived the pod";
}

// What connects to an app's output once crt is dead (an app restarted, an
// ExecStopPost= command) is taken by the watch, which keeps the listener:
// else it would wait in the listener's queue for ever, its writer blocked
// once the socket's buffer is full. While crt lives, crt accepts.
TEST(StopOnCrtDeath, AcceptsTheAppsOutputConnectionsMadeOnceCrtIsDead) {
  if (!StopOnCrtDeath::supported()) GTEST_SKIP() << "no pidfds";
  test::Scratch tmp;
  pid_t nspawn = start_stubborn_process();
  ASSERT_GT(nspawn, 0);
  KillAtEnd nspawn_at_end{nspawn};
  sockaddr_un out_addr{}, flush_addr{};
  UniqueFd out = listen_at((tmp.path() / "stdout-app").string(), &out_addr);
  UniqueFd flush = listen_at((tmp.path() / "output-flush").string(), &flush_addr);
  ASSERT_TRUE(out.valid() && flush.valid());
  pid_t crt = start_crt_with_watch(nspawn, tmp.path() / "stop-requested", milliseconds(1000), flush.get(),
                                   [&](StopOnCrtDeath& watch) { watch.keep_output_listener(out.get(), "app", 0, 0); });
  ASSERT_GT(crt, 0);

  // crt lives: what connects is crt's to accept (this test's, here).
  UniqueFd early = connect_to(out_addr);
  ASSERT_TRUE(early.valid());
  std::this_thread::sleep_for(milliseconds(200));
  pollfd waiting{out.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&waiting, 1, 0), 1) << "the watch accepted while crt lived";
  UniqueFd accepted(::accept4(out.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  EXPECT_TRUE(accepted.valid());

  ::kill(crt, SIGKILL);
  ASSERT_EQ(::waitpid(crt, nullptr, 0), crt);
  // More than the socket's buffer holds, and more than once: each is read.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < 3; ++i) {
    UniqueFd late = connect_to(out_addr);
    ASSERT_TRUE(late.valid());
    EXPECT_TRUE(write_all(late.get(), 512 * 1024, until)) << "connection " << i << " was not read";
  }
  // A connection made just before the app's flush is asked for is read
  // too (by the loop or by the flush, whichever takes it); the request is
  // answered.
  UniqueFd last = connect_to(out_addr);
  ASSERT_TRUE(last.valid());
  UniqueFd request = connect_to(flush_addr);
  ASSERT_TRUE(request.valid());
  ASSERT_EQ(::write(request.get(), "app\n", 4), 4);
  pollfd p{request.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char answer[8] = {};
  EXPECT_EQ(::read(request.get(), answer, sizeof answer), 1);
  EXPECT_TRUE(write_all(last.get(), 512 * 1024, until));
}

// crt killed while the pod's stop was under way: the watch gives the stop
// what is left of its timeout, then has nspawn kill the pod (a second
// SIGTERM), also while an app writes without a pause.
TEST(StopOnCrtDeath, EndsAStopThatOutlastsItsTimeoutWhileAnAppWritesOn) {
  if (!StopOnCrtDeath::supported()) GTEST_SKIP() << "no pidfds";
  test::Scratch tmp;
  pid_t test = ::getpid();
  pid_t nspawn = ::fork();  // ends at its first SIGTERM: the watch's second
  if (nspawn == 0) {
    end_with_the_test(test);
    for (;;) ::pause();
  }
  ASSERT_GT(nspawn, 0);
  KillAtEnd nspawn_at_end{nspawn};
  // The stop's SIGTERM went to nspawn just now.
  std::string stop(16, '\0');
  stop[PodDir::kStopSentAt] = 's';
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t sent_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  std::memcpy(stop.data() + PodDir::kStopSentTimeAt, &sent_ns, sizeof sent_ns);
  test::write_text(tmp / "stop-requested", stop);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd app_end(sv[0]), crt_end(sv[1]);
  pid_t crt = start_crt_with_watch(nspawn, tmp / "stop-requested", milliseconds(300), -1, [&](StopOnCrtDeath& watch) {
    app_end = UniqueFd();
    watch.keep_output(crt_end.get(), "app", 0, 0);
  });
  ASSERT_GT(crt, 0);
  crt_end = UniqueFd();
  ::kill(crt, SIGKILL);
  ASSERT_EQ(::waitpid(crt, nullptr, 0), crt);
  // Its buffer kept full: there is always more for the watch to read.
  std::string chunk(256 * 1024, 'x');
  auto begin = std::chrono::steady_clock::now();
  bool ended = false;
  while (!ended && std::chrono::steady_clock::now() - begin < std::chrono::seconds(5)) {
    pollfd p{app_end.get(), POLLOUT, 0};
    if (::poll(&p, 1, 10) == 1) (void)::send(app_end.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ended = ::waitpid(nspawn, nullptr, WNOHANG) == nspawn;
  }
  EXPECT_TRUE(ended) << "the stop's timeout passed unheeded";
  if (ended) nspawn_at_end.pid = 0;
}

}  // namespace
}  // namespace crt::runtime
