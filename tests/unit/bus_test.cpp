// Bus::wait_until against a bus of the test's own: a peer (sd-bus in server
// mode on a socket that DBUS_SYSTEM_BUS_ADDRESS names) that answers Hello
// and then sends signals without pause.

#include "dbus/bus.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "test_support.hpp"

namespace crt::dbus {
namespace {

using namespace std::chrono_literals;

/// The bus's answer to Hello, which a client awaits before any other message.
int hello(sd_bus_message* m, void* greeted, sd_bus_error*) {
  *static_cast<bool*>(greeted) = true;
  return sd_bus_reply_method_return(m, "s", ":1.1");
}

const sd_bus_vtable kBusVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Hello", "", "s", hello, 0),
    SD_BUS_VTABLE_END,
};

/// Accepts one client on `listener`, answers its Hello, then sends it
/// signals as fast as it reads them, until `stop` or `limit`, or until the
/// client goes.
void busy_peer(int listener, const std::atomic<bool>& stop, std::chrono::seconds limit) {
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  sd_bus* b = nullptr;
  bool greeted = false;
  if (sd_bus_new(&b) < 0 || sd_bus_set_fd(b, fd, fd) < 0 || sd_bus_set_server(b, 1, SD_ID128_NULL) < 0 ||
      sd_bus_add_object_vtable(b, nullptr, "/org/freedesktop/DBus", "org.freedesktop.DBus", kBusVtable, &greeted) < 0 ||
      sd_bus_start(b) < 0) {
    sd_bus_close_unref(b);
    return;
  }
  for (auto until = std::chrono::steady_clock::now() + limit; !stop && std::chrono::steady_clock::now() < until;) {
    int r = 0;
    while ((r = sd_bus_process(b, nullptr)) > 0) {
    }
    if (r < 0) break;
    if (!greeted) {
      sd_bus_wait(b, 100000);
      continue;
    }
    for (int i = 0; i < 100; ++i)
      if (sd_bus_emit_signal(b, "/", "org.example.Busy", "Tick", "") < 0) break;
    if (sd_bus_flush(b) < 0) break;
  }
  sd_bus_close_unref(b);
}

/// A thread running busy_peer, ended (and the listener closed) however the
/// test ends.
class BusyPeer {
 public:
  explicit BusyPeer(int listener) : listener_(listener), thread_(busy_peer, listener, std::cref(stop_), 2s) {}
  ~BusyPeer() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);  // an accept() still waiting returns
    thread_.join();
    ::close(listener_);
  }
  BusyPeer(const BusyPeer&) = delete;
  BusyPeer& operator=(const BusyPeer&) = delete;

 private:
  int listener_;
  std::atomic<bool> stop_ = false;
  std::thread thread_;
};

TEST(BusWaitUntil, KeepsItsLimitOnABusyBus) {
  test::Scratch dir;
  std::string path = (dir / "bus").string();
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(sa.sun_path));
  std::strcpy(sa.sun_path, path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  test::ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + path);
  BusyPeer peer(listener);
  Bus bus = Bus::system();
  auto start = std::chrono::steady_clock::now();
  // A slow done() keeps the peer ahead: a message is always waiting.
  EXPECT_THROW(bus.wait_until(
                   [] {
                     std::this_thread::sleep_for(100us);
                     return false;
                   },
                   200ms, "waiting"),
               Error);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took, 2s) << "a wait of 200 ms took " << took.count() << " ms";
}

}  // namespace
}  // namespace crt::dbus
