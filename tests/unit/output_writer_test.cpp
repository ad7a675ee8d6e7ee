// OutputWriter with a pipe for crt's stdout: what it does when the reader
// stalls, reads again, or goes away.

#include "runtime/output_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <thread>

#include "common/fd.hpp"

namespace crt::runtime {
namespace {

class OutputWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    r_ = UniqueFd(fds[0]);
    w_ = UniqueFd(fds[1]);
    ASSERT_GE(sd_event_new(&ev_), 0);
    writer_ = std::make_unique<OutputWriter>(ev_, w_.get(), [this] { ++rooms_; }, [this] { ++gone_; });
  }
  void TearDown() override {
    r_ = UniqueFd();  // a writer left with output ends at once
    writer_.reset();
    sd_event_unref(ev_);
  }
  /// Runs the loop until it has had nothing to do for `us`.
  void settle(uint64_t us = 50'000) {
    while (sd_event_run(ev_, us) > 0) {
    }
  }
  /// Runs the loop until `done()`, for up to 10 s.
  template <typename F>
  bool run_until(F done) {
    for (int i = 0; i < 1000 && !done(); ++i) sd_event_run(ev_, 10'000);
    return done();
  }
  /// Reads `n` bytes from the pipe (fewer if it ends).
  std::string read_n(size_t n) {
    std::string s;
    char buf[65536];
    while (s.size() < n) {
      ssize_t k = ::read(r_.get(), buf, std::min(sizeof buf, n - s.size()));
      if (k <= 0) break;
      s.append(buf, static_cast<size_t>(k));
    }
    return s;
  }

  UniqueFd r_, w_;
  sd_event* ev_ = nullptr;
  std::unique_ptr<OutputWriter> writer_;
  int rooms_ = 0, gone_ = 0;
};

TEST_F(OutputWriterTest, FillsUpWithoutBlockingAndSaysWhenThereIsRoomAgain) {
  std::string block(1 << 20, 'x');
  for (int i = 0; i < 5; ++i) writer_->write(block);  // never blocks, though nobody reads
  EXPECT_TRUE(writer_->full());
  settle();
  EXPECT_EQ(rooms_, 0);
  std::string got = read_n(4 << 20);
  EXPECT_TRUE(run_until([&] { return rooms_ > 0; }));
  settle();
  EXPECT_EQ(rooms_, 1);
  EXPECT_FALSE(writer_->full());
  std::thread reader([&] { got += read_n(1 << 20); });
  writer_->finish();
  reader.join();
  EXPECT_EQ(got.size(), 5U << 20);
  EXPECT_EQ(gone_, 0);
}

TEST_F(OutputWriterTest, KeepsTheOrderOfWhatItIsGiven) {
  std::string want;
  for (int i = 0; i < 20000; ++i) want += std::to_string(i) + "\n";
  std::string got;
  std::thread reader([&] { got = read_n(~size_t{0}); });
  for (size_t i = 0; i < want.size(); i += 7) writer_->write(std::string_view(want).substr(i, 7));
  writer_->finish();
  w_ = UniqueFd();
  reader.join();
  EXPECT_TRUE(got == want);
}

TEST_F(OutputWriterTest, AGoneReaderIsToldOnceAndWhatFollowsIsDropped) {
  std::string block(1 << 20, 'x');
  for (int i = 0; i < 5; ++i) writer_->write(block);
  r_ = UniqueFd();
  EXPECT_TRUE(run_until([&] { return gone_ > 0; }));
  settle();
  EXPECT_EQ(gone_, 1);
  EXPECT_TRUE(writer_->gone());
  EXPECT_FALSE(writer_->full());
  EXPECT_GE(rooms_, 1);  // sources that waited for room go on
  writer_->write("more\n");
  settle();
  writer_->wait_for_room();  // returns: a gone reader takes everything
  writer_->finish();
  EXPECT_EQ(gone_, 1);
}

TEST(WriteStderr, GoesBehindWhatTheWriterOfStderrHolds) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  UniqueFd saved(::fcntl(2, F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(saved);
  ASSERT_EQ(::dup2(w.get(), 2), 2);
  sd_event* ev = nullptr;
  ASSERT_GE(sd_event_new(&ev), 0);
  std::string got;
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; (n = ::read(r.get(), buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  });
  {
    OutputWriter err(ev, 2, nullptr, nullptr);
    err.write(std::string(1 << 20, 'a'));
    write_stderr("message\n");  // queued behind the app's output, not in it
    err.finish();
    write_stderr("after\n");  // the writer is done: straight to fd 2
  }
  ::dup2(saved.get(), 2);
  w = UniqueFd();
  reader.join();
  sd_event_unref(ev);
  EXPECT_EQ(got, std::string(1 << 20, 'a') + "message\nafter\n");
}

TEST(JournalStream, IsTheFdWhoseDeviceAndInodeItNames) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  struct stat st {};
  ASSERT_EQ(::fstat(w.get(), &st), 0);
  std::string dev = std::to_string(st.st_dev), ino = std::to_string(st.st_ino);
  EXPECT_TRUE(is_journal_stream(w.get(), (dev + ":" + ino).c_str()));
  EXPECT_FALSE(is_journal_stream(w.get(), nullptr));
  EXPECT_FALSE(is_journal_stream(w.get(), (dev + ":" + std::to_string(st.st_ino + 1)).c_str()));
  EXPECT_FALSE(is_journal_stream(w.get(), (dev + ":" + ino + "x").c_str()));
  EXPECT_FALSE(is_journal_stream(w.get(), (dev + ino).c_str()));
  EXPECT_FALSE(is_journal_stream(w.get(), ""));
  EXPECT_FALSE(is_journal_stream(-1, (dev + ":" + ino).c_str()));
}

}  // namespace
}  // namespace crt::runtime
