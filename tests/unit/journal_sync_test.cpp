// app-exited's wait for the pod's journald, against a stand-in that answers
// late, never, or not at all.

#include "journal_sync.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "common/fd.hpp"

namespace crt::app_exited {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

/// A varlink server that takes one call and answers `reply` after `delay`
/// (no answer when `reply` is empty).
class FakeJournald {
 public:
  FakeJournald(milliseconds delay, std::string reply) {
    char tmpl[] = "/tmp/crt-journald-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/io.systemd.journal";
    listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener_.get(), 1), 0);
    server_ = std::thread([this, delay, reply] {
      UniqueFd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) return;
      std::string request;
      char buf[256];
      // A varlink call ends with a NUL, crt's flush request with a newline.
      for (ssize_t n; request.find_first_of(std::string("\0\n", 2)) == std::string::npos &&
                      (n = ::read(c.get(), buf, sizeof buf)) > 0;)
        request.append(buf, static_cast<size_t>(n));
      got_request_ = request.find("io.systemd.Journal.Synchronize") != std::string::npos;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        request_ = request;
      }
      std::this_thread::sleep_for(delay);
      if (!reply.empty()) (void)!::write(c.get(), reply.c_str(), reply.size() + 1);  // with its NUL
      while (!done_) std::this_thread::sleep_for(milliseconds(10));
    });
  }
  ~FakeJournald() {
    done_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    server_.join();
    std::filesystem::remove_all(dir_);
  }
  const char* path() const { return path_.c_str(); }
  bool got_request() const { return got_request_; }
  std::string request() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return request_;
  }

 private:
  std::string dir_, path_;
  UniqueFd listener_;
  std::thread server_;
  std::atomic<bool> done_{false};
  std::atomic<bool> got_request_{false};
  mutable std::mutex mutex_;
  std::string request_;
};

milliseconds since(Clock::time_point t) { return std::chrono::duration_cast<milliseconds>(Clock::now() - t); }

TEST(SyncJournal, AnAnswerAfterSeveralSlicesIsWaitedFor) {
  FakeJournald j(milliseconds(1200), R"({"parameters":{}})");
  int asked = 0;
  EXPECT_TRUE(sync_journal(std::chrono::seconds(10), [&] { return ++asked > 0; }, j.path()));
  EXPECT_TRUE(j.got_request());
  EXPECT_GE(asked, 2) << "keep_waiting is asked at each slice";
}

TEST(SyncJournal, AStopEndsTheWaitAtTheNextSlice) {
  FakeJournald j(milliseconds(0), "");
  auto start = Clock::now();
  int asked = 0;
  EXPECT_FALSE(sync_journal(std::chrono::minutes(2), [&] { return ++asked < 2; }, j.path()));
  EXPECT_EQ(asked, 2);
  EXPECT_LT(since(start), milliseconds(4000));  // not the 2 minutes
}

TEST(SyncJournal, TheTimeoutEndsAWaitWithoutAnswer) {
  FakeJournald j(milliseconds(0), "");
  auto start = Clock::now();
  EXPECT_FALSE(sync_journal(milliseconds(700), {}, j.path()));
  EXPECT_GE(since(start), milliseconds(650));
  EXPECT_LT(since(start), milliseconds(4000));
}

TEST(SyncJournal, AnErrorAnswerOrNoJournaldIsFalseAtOnce) {
  FakeJournald j(milliseconds(0), R"({"error":"org.varlink.service.MethodNotFound"})");
  EXPECT_FALSE(sync_journal(std::chrono::seconds(5), {}, j.path()));
  auto start = Clock::now();
  EXPECT_FALSE(sync_journal(std::chrono::seconds(5), {}, "/nonexistent/io.systemd.journal"));
  EXPECT_LT(since(start), milliseconds(1000));  // not the 5 s
}

TEST(FlushOutput, NamesTheAppAndWaitsForCrtsAnswer) {
  FakeJournald crt(milliseconds(600), "\n");
  auto start = Clock::now();
  EXPECT_TRUE(flush_output("web-1", "", std::chrono::seconds(5), {}, crt.path()));
  EXPECT_GE(since(start), milliseconds(550));
  EXPECT_EQ(crt.request(), "web-1\n");
}

TEST(FlushOutput, NamesTheTerminalsMarkToo) {
  FakeJournald crt(milliseconds(0), "\n");
  EXPECT_TRUE(flush_output("shell", "0A1B", std::chrono::seconds(5), {}, crt.path()));
  EXPECT_EQ(crt.request(), "shell 0A1B\n");
}

TEST(FlushOutput, NoCrtOrNoAnswerIsFalse) {
  EXPECT_FALSE(flush_output("web", "", std::chrono::seconds(5), {}, "/nonexistent/output-flush"));
  FakeJournald crt(milliseconds(0), "");
  int asked = 0;
  EXPECT_FALSE(flush_output(
      "web", "", std::chrono::seconds(5), [&] { return ++asked < 2; }, crt.path()));
}

}  // namespace
}  // namespace crt::app_exited
