// prepare-app's wait for the pod's last etc file, and for the crt that is to
// write it.
#include "wait_file.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "test_support.hpp"

namespace crt::prepare_app {
namespace {

using namespace std::chrono_literals;
using test::Scratch;

UniqueFd listen_on(const std::filesystem::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  EXPECT_EQ(::listen(fd.get(), 16), 0);
  return fd;
}

/// How long wait_for_file took, and what it threw ("" if nothing).
std::pair<std::chrono::milliseconds, std::string> timed_wait(const Scratch& s, std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  std::string error;
  try {
    wait_for_file(s / "hosts", timeout, s / "starting");
  } catch (const Error& e) {
    error = e.what();
  }
  return {std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start), error};
}

TEST(WaitForFile, ReturnsWhenTheFileComes) {
  Scratch s;
  UniqueFd writer = listen_on(s / "starting");
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    test::write_text(s / "hosts.tmp", "x");
    std::filesystem::rename(s / "hosts.tmp", s / "hosts");
    writer = UniqueFd();  // as crt does, after the file
  });
  auto [took, error] = timed_wait(s, 30s);
  t.join();
  EXPECT_EQ(error, "");
  EXPECT_LT(took, 10s);
}

TEST(WaitForFile, GivesUpAtOnceWhenTheWriterGoesAwayWithoutTheFile) {
  Scratch s;
  UniqueFd writer = listen_on(s / "starting");
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    writer = UniqueFd();  // as when crt is killed
  });
  auto [took, error] = timed_wait(s, 30s);
  t.join();
  EXPECT_NE(error.find("hosts' never came: the process that was to write it"), std::string::npos) << error;
  EXPECT_LT(took, 10s);
}

TEST(WaitForFile, AWriterThatIsGoneAlreadyAndLeftNoFileIsAnErrorAtOnce) {
  Scratch s;
  listen_on(s / "starting");  // closed at once; the socket file stays
  auto [took, error] = timed_wait(s, 30s);
  EXPECT_NE(error.find("never came"), std::string::npos) << error;
  EXPECT_LT(took, 10s);
  // A writer that made the file first is done, not gone.
  test::write_text(s / "hosts", "x");
  EXPECT_EQ(timed_wait(s, 30s).second, "");
}

TEST(WaitForFile, WithoutAWriterOnlyTheTimeoutEndsTheWait) {
  Scratch s;
  auto [took, error] = timed_wait(s, 200ms);
  EXPECT_NE(error.find("did not appear"), std::string::npos) << error;
  EXPECT_GE(took, 150ms);  // it waited (poll rounds its timeout down)
}

}  // namespace
}  // namespace crt::prepare_app
