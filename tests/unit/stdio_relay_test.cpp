// StdioRelay with pipes for crt's own stdio and a test in the place of the
// pod's systemd, which connects the app's stdin, stdout and stderr.

#include "runtime/stdio_relay.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "common/fd.hpp"
#include "pod/terminal_mark.hpp"
#include "runtime/terminal.hpp"

namespace crt::runtime {
namespace {

UniqueFd listen_on(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path;
  EXPECT_EQ(::listen(fd.get(), 8), 0);
  return fd;
}

/// Connects as systemd does for StandardInput=file: (shut for writing) and
/// StandardOutput=file: (shut for reading).
UniqueFd connect_to(const std::string& path, bool input) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path;
  ::shutdown(fd.get(), input ? SHUT_WR : SHUT_RD);
  return fd;
}

struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    r = UniqueFd(fds[0]);
    w = UniqueFd(fds[1]);
  }
};

class StdioRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/crt-relay-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    in_ = listen_on(dir_ + "/stdin");
    out_ = listen_on(dir_ + "/stdout");
    err_ = listen_on(dir_ + "/stderr");
    ASSERT_GE(sd_event_new(&ev_), 0);
  }

  void TearDown() override {
    relay_.reset();
    user_out_.r = UniqueFd();  // writers left with output end at once
    user_err_.r = UniqueFd();
    out_writer_.reset();
    err_writer_.reset();
    sd_event_unref(ev_);
    std::filesystem::remove_all(dir_);
  }

  /// Starts the relay with the fixture's pipes as crt's stdio.
  void start_with_pipes() { start(user_in_.r.get()); }

  /// Starts the relay with `in` as crt's stdin and the fixture's pipes as
  /// its stdout and stderr.
  void start(int in, bool prefix_app_names = false) {
    out_writer_ = std::make_unique<OutputWriter>(ev_, user_out_.w.get(), [this] { relay_->resume(); }, [this] { ++gone_; });
    err_writer_ = std::make_unique<OutputWriter>(ev_, user_err_.w.get(), [this] { relay_->resume(); }, nullptr);
    StdioSockets sockets{in_.get(), {{out_.get(), "app", false}, {err_.get(), "app", true}}};
    sockets.prefix_app_names = prefix_app_names;
    relay_ = std::make_unique<StdioRelay>(ev_, sockets, UserStdio{in, out_writer_.get(), err_writer_.get()},
                                          [this](std::string_view m) { messages_ += std::string(m) + "\n"; });
  }

  /// Starts the relay with `tty`'s master as the app's terminal (`flush`:
  /// the flush requests' socket, or -1); the slave, set raw as nspawn sets
  /// its stdin, is nspawn's end.
  UniqueFd start_on_terminal(PodTerminal& tty, int flush = -1) {
    UniqueFd nspawn = tty.take_slave();
    termios raw{};
    EXPECT_EQ(::tcgetattr(nspawn.get(), &raw), 0);
    ::cfmakeraw(&raw);
    EXPECT_EQ(::tcsetattr(nspawn.get(), TCSANOW, &raw), 0);
    out_writer_ = std::make_unique<OutputWriter>(
        ev_, user_out_.w.get(), [this] { relay_->resume(); }, nullptr);
    err_writer_ = std::make_unique<OutputWriter>(
        ev_, user_err_.w.get(), [this] { relay_->resume(); }, nullptr);
    StdioSockets sockets;
    sockets.terminal = tty.master();
    sockets.terminal_app = "app";
    sockets.flush = flush;
    relay_ =
        std::make_unique<StdioRelay>(ev_, sockets, UserStdio{user_in_.r.get(), out_writer_.get(), err_writer_.get()},
                                     [this](std::string_view m) { messages_ += std::string(m) + "\n"; });
    return nspawn;
  }

  /// What the relay wrote to crt's stdout and stderr is out, and they end.
  void finish_output() {
    out_writer_->finish();
    err_writer_->finish();
    user_out_.w = UniqueFd();
    user_err_.w = UniqueFd();
  }

  /// Runs the loop until it has nothing to do for `us`.
  void settle(uint64_t us = 50'000) {
    while (sd_event_run(ev_, us) > 0) {
    }
  }

  /// All that `fd` gives until its end (or 2 s without data).
  static std::string read_all(int fd) {
    std::string s;
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return s + "<timeout>";
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return s;
      s.append(buf, static_cast<size_t>(n));
    }
  }

  static void write_str(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

  std::string dir_;
  Pipe user_in_, user_out_, user_err_;  ///< crt's stdin, stdout and stderr
  UniqueFd in_, out_, err_;
  sd_event* ev_ = nullptr;
  std::unique_ptr<OutputWriter> out_writer_, err_writer_;
  std::unique_ptr<StdioRelay> relay_;
  int gone_ = 0;
  std::string messages_;
};

TEST_F(StdioRelayTest, ATerminalGetsCrtsStdinAndItsOutputIsCrtsStdout) {
  // crt's pty, as nspawn sees it: the slave is nspawn's stdin and stdout.
  PodTerminal tty(user_in_.r.get(), user_out_.w.get());
  UniqueFd nspawn = start_on_terminal(tty);
  write_str(user_in_.w.get(), "typed\x03");
  settle();
  char buf[64];
  pollfd p{nspawn.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "nothing came to the terminal";
  ssize_t n = ::read(nspawn.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), "typed\x03");
  write_str(nspawn.get(), "shown\r\n\xff");
  nspawn = UniqueFd();  // nspawn has ended: the master reads its end
  settle();
  relay_->drain();
  finish_output();
  EXPECT_EQ(read_all(user_out_.r.get()), "shown\r\n\xff");
  EXPECT_EQ(messages_, "");
}

TEST_F(StdioRelayTest, AFlushOfATerminalIsAnsweredOnceItsMarkHasComeThroughAndTheMarkIsNotShown) {
  PodTerminal tty(user_in_.r.get(), user_out_.w.get());
  UniqueFd flush = listen_on(dir_ + "/flush");
  UniqueFd nspawn = start_on_terminal(tty, flush.get());
  std::string mark = pod::terminal_mark("C0FFEE");
  // The app's last line and half the mark have come through; app-exited
  // asks for the flush.
  write_str(nspawn.get(), "last line\r\n" + mark.substr(0, 9));
  UniqueFd requester(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, (dir_ + "/flush").c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::connect(requester.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  write_str(requester.get(), "app C0FFEE\n");
  settle();
  pollfd p{requester.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "answered before the mark came";
  write_str(nspawn.get(), mark.substr(9) + "$ ");
  settle();
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "not answered after the mark came";
  char answer[8];
  EXPECT_EQ(::read(requester.get(), answer, sizeof answer), 1);
  nspawn = UniqueFd();
  settle();
  relay_->drain();
  finish_output();
  EXPECT_EQ(read_all(user_out_.r.get()), "last line\r\n$ ");
  EXPECT_EQ(messages_, "");
}

TEST_F(StdioRelayTest, InputThatEndedBeforeTheAppConnectedReachesItWithItsEnd) {
  start_with_pipes();
  write_str(user_in_.w.get(), "hello\n");
  user_in_.w = UniqueFd();
  settle();
  UniqueFd app = connect_to(dir_ + "/stdin", true);
  settle();
  EXPECT_EQ(read_all(app.get()), "hello\n");
}

TEST_F(StdioRelayTest, OutputIsCopiedByteForByteToItsOwnStream) {
  start_with_pipes();
  UniqueFd out = connect_to(dir_ + "/stdout", false);
  UniqueFd err = connect_to(dir_ + "/stderr", false);
  settle();
  std::string bytes("a\0b\r\n\xff no newline", 18);
  write_str(out.get(), bytes);
  write_str(err.get(), "oops\n");
  out = UniqueFd();
  err = UniqueFd();
  relay_->drain();  // as when the pod ended before the loop saw it
  settle();
  finish_output();
  EXPECT_EQ(read_all(user_out_.r.get()), bytes);
  EXPECT_EQ(read_all(user_err_.r.get()), "oops\n");
}

TEST_F(StdioRelayTest, WithAppNamesALongLineGoesInPiecesOf64KiBAndNoEmptyLine) {
  start(user_in_.r.get(), true);
  UniqueFd out = connect_to(dir_ + "/stdout", false);
  settle();
  std::string shown;
  std::thread reader([&] { shown = read_all(user_out_.r.get()); });
  // Lines whose reads end anywhere: 100000 bytes, then exactly two pieces.
  write_str(out.get(), "hi\n" + std::string(70000, 'x'));
  settle();
  write_str(out.get(), std::string(30000, 'x') + "\n");
  settle();
  write_str(out.get(), std::string(131072, 'y'));
  settle();
  write_str(out.get(), "\nafter\n");
  out = UniqueFd();
  settle();
  finish_output();
  reader.join();
  std::string k64(65536, 'x');
  EXPECT_EQ(shown, "app: hi\napp: " + k64 + "\napp: " + std::string(34464, 'x') + "\napp: " + std::string(65536, 'y') +
                       "\napp: " + std::string(65536, 'y') + "\napp: after\n");
}

TEST_F(StdioRelayTest, DrainTakesOutputOfAConnectionTheLoopNeverSaw) {
  start_with_pipes();
  UniqueFd out = connect_to(dir_ + "/stdout", false);
  write_str(out.get(), "last words\n");
  out = UniqueFd();
  relay_->drain();
  finish_output();
  EXPECT_EQ(read_all(user_out_.r.get()), "last words\n");
  EXPECT_EQ(messages_, "");
}

TEST_F(StdioRelayTest, ARestartedAppReadsOnWhereTheLastOneStopped) {
  start_with_pipes();
  UniqueFd first = connect_to(dir_ + "/stdin", true);
  settle();
  write_str(user_in_.w.get(), "one\n");
  settle();
  char buf[16];
  ASSERT_EQ(::read(first.get(), buf, sizeof buf), 4);
  first = UniqueFd();  // the app ended
  write_str(user_in_.w.get(), "two\n");
  user_in_.w = UniqueFd();
  settle();
  UniqueFd second = connect_to(dir_ + "/stdin", true);
  settle();
  EXPECT_EQ(read_all(second.get()), "two\n");
}

TEST_F(StdioRelayTest, AFileAsStdinIsReadToItsEnd) {
  std::string file = dir_ + "/input";
  std::string data(300 * 1024, 'x');
  {
    UniqueFd f(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    write_str(f.get(), data);
  }
  UniqueFd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));  // epoll cannot watch it
  start(in.get());
  UniqueFd app = connect_to(dir_ + "/stdin", true);
  std::string got;
  for (int i = 0; i < 200 && got.size() < data.size(); ++i) {
    sd_event_run(ev_, 10'000);
    char buf[65536];
    ssize_t n = ::recv(app.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  settle();
  EXPECT_EQ(got + read_all(app.get()), data);
}

TEST_F(StdioRelayTest, AStalledReaderPausesTheAppNotTheLoop) {
  start_with_pipes();
  UniqueFd out = connect_to(dir_ + "/stdout", false);
  settle();
  ASSERT_EQ(::fcntl(out.get(), F_SETFL, O_NONBLOCK), 0);
  // Nobody reads crt's stdout: the app may write until the writer is full
  // and its own socket too, and then it waits; the loop never does.
  std::string sent;
  for (int stalls = 0; stalls < 20;) {
    std::string chunk(8192, static_cast<char>('a' + sent.size() / 8192 % 26));
    ssize_t n = ::send(out.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n > 0) sent.append(chunk, 0, static_cast<size_t>(n));
    if (n < 0) ++stalls;
    settle(n < 0 ? 10'000 : 0);
    ASSERT_LT(sent.size(), 64U << 20) << "the relay never stopped taking the app's output";
  }
  EXPECT_GE(sent.size(), OutputWriter::kLimit);
  out = UniqueFd();
  std::string got;
  std::thread reader([&] { got = read_all(user_out_.r.get()); });
  settle();
  relay_->drain();
  finish_output();
  reader.join();
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
}

TEST_F(StdioRelayTest, AGoneReaderOfStdoutIsReportedOnce) {
  start_with_pipes();
  UniqueFd out = connect_to(dir_ + "/stdout", false);
  user_out_.r = UniqueFd();
  write_str(out.get(), "first\n");
  settle();
  write_str(out.get(), "second\n");
  // The writer's thread finds the reader gone: the loop hears of it.
  for (int i = 0; i < 1000 && gone_ == 0; ++i) sd_event_run(ev_, 10'000);
  write_str(out.get(), "third\n");
  settle();
  EXPECT_EQ(gone_, 1);
}

}  // namespace
}  // namespace crt::runtime
