#include "dbus/bus.hpp"

#include <poll.h>

#include "dbus/bus_impl.hpp"

namespace crt::dbus {

namespace {
/// How long wait_until() sleeps at most between asking its `done()`.
constexpr int kMaxPollMs = 100;
}  // namespace

Error bus_error(std::string_view what, const sdbus::Error& e) {
  std::string msg = e.getMessage();
  if (msg.empty()) msg = "failed";
  return Error(std::string(what) + ": " + msg + " (" + e.getName() + ")");
}

Bus::Bus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bus::Bus(Bus&&) noexcept = default;
Bus& Bus::operator=(Bus&&) noexcept = default;
Bus::~Bus() = default;

Bus Bus::system() {
  auto impl = std::make_unique<Impl>();
  impl->connection = call("connecting to the system bus", [] { return sdbus::createSystemBusConnection(); });
  return Bus(std::move(impl));
}

void Bus::wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout, std::string_view what) {
  auto until = std::chrono::steady_clock::now() + timeout;
  auto& c = *impl_->connection;
  call(what, [&] {
    while (!done()) {
      // Before dispatching: a bus that always has a message must not keep
      // the wait going past its limit.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw Error(std::string(what) + ": no answer within " + std::to_string(timeout.count()) + " ms");
      if (c.processPendingRequest()) continue;
      auto pd = c.getEventLoopPollData();
      pollfd p{pd.fd, static_cast<short>(pd.events), 0};
      int bus_ms = pd.getPollTimeout();
      int ms = std::min(bus_ms < 0 ? static_cast<int>(left.count()) : std::min(bus_ms, static_cast<int>(left.count())),
                        kMaxPollMs);
      if (::poll(&p, 1, ms) < 0 && errno != EINTR) throw_errno(std::string(what) + ": polling the bus");
    }
  });
}

}  // namespace crt::dbus
