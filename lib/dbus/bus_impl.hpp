#pragma once

// Internal to lib/dbus: the sdbus-c++ side of Bus.

#include <sdbus-c++/sdbus-c++.h>

#include <memory>
#include <string_view>

#include "common/error.hpp"
#include "dbus/bus.hpp"

namespace crt::dbus {

struct Bus::Impl {
  std::unique_ptr<sdbus::IConnection> connection;
};

/// A crt::Error for a failed D-Bus call: "`what`: MESSAGE (org.freedesktop.…)".
Error bus_error(std::string_view what, const sdbus::Error& e);

/// Runs `body`, turning a D-Bus error into a crt::Error naming `what`.
template <typename F>
decltype(auto) call(std::string_view what, F&& body) {
  try {
    return std::forward<F>(body)();
  } catch (const sdbus::Error& e) {
    throw bus_error(what, e);
  }
}

}  // namespace crt::dbus
