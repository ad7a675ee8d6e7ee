#include "dbus/systemd_manager.hpp"

#include <map>
#include <memory>

#include "dbus/bus_impl.hpp"

namespace crt::dbus {

namespace {

constexpr const char* kSystemd = "org.freedesktop.systemd1";
constexpr const char* kSystemdPath = "/org/freedesktop/systemd1";
constexpr const char* kSystemdManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kServiceIface = "org.freedesktop.systemd1.Service";
constexpr const char* kNoSuchUnit = "org.freedesktop.systemd1.NoSuchUnit";

using Property = sdbus::Struct<std::string, sdbus::Variant>;
using ExecProperty = sdbus::Struct<std::string, std::vector<std::string>, bool>;
using AuxUnit = sdbus::Struct<std::string, std::vector<Property>>;

/// Properties transient services and scopes share.
template <typename Unit>
void add_common(std::vector<Property>& p, const Unit& u) {
  auto add = [&](const char* key, sdbus::Variant v) { p.emplace_back(key, std::move(v)); };
  if (!u.description.empty()) add("Description", u.description);
  if (!u.slice.empty()) add("Slice", u.slice);
  if (u.delegate) add("Delegate", true);
  if (u.accounting) {
    add("CPUAccounting", true);
    add("MemoryAccounting", true);
    add("TasksAccounting", true);
  }
  if (u.collect) add("CollectMode", std::string("inactive-or-failed"));
  if (!u.device_policy.empty()) add("DevicePolicy", u.device_policy);
  if (!u.device_allow.empty()) {
    std::vector<sdbus::Struct<std::string, std::string>> allow;
    for (const auto& [dev, access] : u.device_allow) allow.emplace_back(dev, access);
    add("DeviceAllow", allow);
  }
}

std::vector<Property> properties_of(const TransientService& s) {
  std::vector<Property> p;
  auto add = [&](const char* key, sdbus::Variant v) { p.emplace_back(key, std::move(v)); };
  add_common(p, s);
  add("Type", s.type);
  if (!s.notify_access.empty()) add("NotifyAccess", s.notify_access);
  if (!s.kill_mode.empty()) add("KillMode", s.kill_mode);
  std::vector<ExecProperty> exec;
  for (const auto& e : s.exec_start) exec.emplace_back(e.path, e.argv, false);
  if (!exec.empty()) add("ExecStart", exec);
  if (!s.environment.empty()) add("Environment", s.environment);
  if (!s.wants.empty()) add("Wants", s.wants);
  if (!s.after.empty()) add("After", s.after);
  if (s.timeout_stop_usec != 0) add("TimeoutStopUSec", s.timeout_stop_usec);
  return p;
}

std::vector<Property> properties_of(const TransientScope& s) {
  std::vector<Property> p;
  auto add = [&](const char* key, sdbus::Variant v) { p.emplace_back(key, std::move(v)); };
  add_common(p, s);
  add("PIDs", s.pids);
  return p;
}

/// Records the results of finished jobs (JobRemoved). Made before a job is
/// queued so that a job finishing at once is not missed.
class JobWatch {
 public:
  explicit JobWatch(Bus& bus) : bus_(bus), proxy_(sdbus::createProxy(*bus.impl().connection, kSystemd, kSystemdPath)) {
    proxy_->uponSignal("JobRemoved")
        .onInterface(kSystemdManager)
        .call([this](uint32_t, const sdbus::ObjectPath& job, const std::string&, const std::string& result) {
          results_[job] = result;
        });
    proxy_->finishRegistration();
    // systemd sends job signals only while some client is subscribed; a
    // connection that watched a job before is subscribed already.
    try {
      proxy_->callMethod("Subscribe").onInterface(kSystemdManager);
    } catch (const sdbus::Error& e) {
      if (e.getName() != "org.freedesktop.systemd1.AlreadySubscribed") throw;
    }
  }

  sdbus::IProxy& proxy() { return *proxy_; }

  std::string wait(const std::string& job, const std::string& what, std::chrono::milliseconds timeout,
                   const std::function<void()>& check = {}) {
    bus_.wait_until(
        [&] {
          if (check) check();
          return results_.count(job) > 0;
        },
        timeout, what);
    return results_.at(job);
  }

 private:
  Bus& bus_;
  std::unique_ptr<sdbus::IProxy> proxy_;
  std::map<std::string, std::string> results_;
};

std::string start_transient(Bus& bus, const std::string& name, const std::vector<Property>& props,
                            std::chrono::milliseconds timeout, const std::function<void()>& check = {}) {
  std::string what = "starting transient unit " + quote(name);
  return call(what, [&] {
    JobWatch watch(bus);
    sdbus::ObjectPath job;
    watch.proxy()
        .callMethod("StartTransientUnit")
        .onInterface(kSystemdManager)
        .withArguments(name, std::string("fail"), props, std::vector<AuxUnit>{})
        .storeResultsTo(job);
    return watch.wait(job, what, timeout, check);
  });
}

}  // namespace

std::string SystemdManager::start_transient_service(const TransientService& s, std::chrono::milliseconds timeout,
                                                    const std::function<void()>& check) {
  return start_transient(bus_, s.name, properties_of(s), timeout, check);
}

std::string SystemdManager::start_transient_scope(const TransientScope& s, std::chrono::milliseconds timeout) {
  return start_transient(bus_, s.name, properties_of(s), timeout);
}

std::string SystemdManager::stop_unit(const std::string& name, bool wait, std::chrono::milliseconds timeout) {
  std::string what = "stopping unit " + quote(name);
  return call(what, [&] {
    JobWatch watch(bus_);
    sdbus::ObjectPath job;
    watch.proxy()
        .callMethod("StopUnit")
        .onInterface(kSystemdManager)
        .withArguments(name, std::string("replace"))
        .storeResultsTo(job);
    return wait ? watch.wait(job, what, timeout) : std::string("queued");
  });
}

void SystemdManager::reset_failed_unit(const std::string& name) {
  call("resetting the failed state of unit " + quote(name), [&] {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kSystemd, kSystemdPath);
    proxy->callMethod("ResetFailedUnit").onInterface(kSystemdManager).withArguments(name);
  });
}

void SystemdManager::kill_unit(const std::string& name, const std::string& who, int signal) {
  call("sending signal " + std::to_string(signal) + " to unit " + quote(name), [&] {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kSystemd, kSystemdPath);
    proxy->callMethod("KillUnit").onInterface(kSystemdManager).withArguments(name, who, int32_t{signal});
  });
}

std::string SystemdManager::get_unit(const std::string& name) { return *look_up_unit(name, false); }

std::optional<std::string> SystemdManager::look_up_unit(const std::string& name, bool none_if_not_loaded) {
  try {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kSystemd, kSystemdPath);
    sdbus::ObjectPath path;
    proxy->callMethod("GetUnit").onInterface(kSystemdManager).withArguments(name).storeResultsTo(path);
    return std::string(path);
  } catch (const sdbus::Error& e) {
    if (none_if_not_loaded && e.getName() == kNoSuchUnit) return std::nullopt;
    throw bus_error("looking up unit " + quote(name), e);
  }
}

UnitState SystemdManager::unit_state(const std::string& name) { return state_at(name, get_unit(name)); }

std::optional<UnitState> SystemdManager::loaded_unit_state(const std::string& name) {
  std::optional<std::string> path = look_up_unit(name, true);
  if (!path) return std::nullopt;
  return state_at(name, *path);
}

UnitState SystemdManager::state_at(const std::string& name, const std::string& path) {
  return call("reading the state of unit " + quote(name), [&] {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kSystemd, path);
    UnitState st;
    st.active_state = proxy->getProperty("ActiveState").onInterface(kUnit).get<std::string>();
    st.sub_state = proxy->getProperty("SubState").onInterface(kUnit).get<std::string>();
    if (name.size() > 8 && name.compare(name.size() - 8, 8, ".service") == 0) {
      st.result = proxy->getProperty("Result").onInterface(kServiceIface).get<std::string>();
      st.main_pid = proxy->getProperty("MainPID").onInterface(kServiceIface).get<uint32_t>();
      st.exec_main_status = proxy->getProperty("ExecMainStatus").onInterface(kServiceIface).get<int32_t>();
      st.control_group = proxy->getProperty("ControlGroup").onInterface(kServiceIface).get<std::string>();
    }
    return st;
  });
}

bool SystemdManager::delegates_to(const std::string& name, uint32_t pid) {
  std::string path = get_unit(name);
  return call("reading unit " + quote(name), [&] {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kSystemd, path);
    return proxy->getProperty("MainPID").onInterface(kServiceIface).get<uint32_t>() == pid &&
           proxy->getProperty("Delegate").onInterface(kServiceIface).get<bool>();
  });
}

bool SystemdManager::limits_devices(const std::string& name) {
  std::string path = get_unit(name);
  return call("reading unit " + quote(name), [&] {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kSystemd, path);
    return proxy->getProperty("DevicePolicy").onInterface(kServiceIface).get<std::string>() != "auto" ||
           !proxy->getProperty("DeviceAllow")
                .onInterface(kServiceIface)
                .get<std::vector<sdbus::Struct<std::string, std::string>>>()
                .empty();
  });
}

}  // namespace crt::dbus
