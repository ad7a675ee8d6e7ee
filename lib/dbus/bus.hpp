#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace crt::dbus {

/// A connection to the system bus, shared by the proxies made on it. Only
/// lib/dbus sees sdbus-c++; the rest of crt uses these typed wrappers.
class Bus {
 public:
  /// Connects to the system bus; throws crt::Error saying why it cannot.
  static Bus system();

  Bus(Bus&&) noexcept;
  Bus& operator=(Bus&&) noexcept;
  ~Bus();

  /// Dispatches incoming messages (signals) until `done()` holds; throws
  /// crt::Error naming `what` after `timeout`. `done()` is asked at least
  /// every 100 ms, so it may also give up by throwing.
  void wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout, std::string_view what);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Bus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace crt::dbus
