#include "dbus/machine_manager.hpp"

#include <systemd/sd-id128.h>

#include <csignal>

#include "dbus/bus_impl.hpp"

namespace crt::dbus {

namespace {

constexpr const char* kMachined = "org.freedesktop.machine1";
constexpr const char* kMachinedPath = "/org/freedesktop/machine1";
constexpr const char* kMachinedManager = "org.freedesktop.machine1.Manager";
constexpr const char* kMachine = "org.freedesktop.machine1.Machine";
constexpr const char* kNoSuchMachine = "org.freedesktop.machine1.NoSuchMachine";

std::unique_ptr<sdbus::IProxy> manager(Bus& bus) {
  return sdbus::createProxy(*bus.impl().connection, kMachined, kMachinedPath);
}

}  // namespace

std::vector<MachineEntry> MachineManager::list_machines() {
  return call("listing machines (systemd-machined)", [&] {
    std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> rows;
    manager(bus_)->callMethod("ListMachines").onInterface(kMachinedManager).storeResultsTo(rows);
    std::vector<MachineEntry> out;
    for (auto& r : rows) out.push_back({r.get<0>(), r.get<1>(), r.get<2>(), r.get<3>()});
    return out;
  });
}

std::optional<std::string> MachineManager::get_machine(const std::string& name) {
  try {
    sdbus::ObjectPath path;
    manager(bus_)->callMethod("GetMachine").onInterface(kMachinedManager).withArguments(name).storeResultsTo(path);
    return std::string(path);
  } catch (const sdbus::Error& e) {
    if (e.getName() == kNoSuchMachine) return std::nullopt;
    throw bus_error("looking up machine " + quote(name), e);
  }
}

std::optional<MachineDetails> MachineManager::machine(const std::string& name) {
  std::optional<std::string> path = get_machine(name);
  if (!path) return std::nullopt;
  try {
    auto proxy = sdbus::createProxy(*bus_.impl().connection, kMachined, *path);
    // One call for all (crt in a unit reads every crt machine at its start).
    std::map<std::string, sdbus::Variant> props;
    proxy->callMethod("GetAll")
        .onInterface("org.freedesktop.DBus.Properties")
        .withArguments(std::string(kMachine))
        .storeResultsTo(props);
    auto text = [&](const char* key) {
      auto it = props.find(key);
      return it == props.end() ? std::string() : it->second.get<std::string>();
    };
    MachineDetails d;
    d.name = text("Name");
    d.klass = text("Class");
    d.service = text("Service");
    d.unit = text("Unit");
    d.state = text("State");
    d.root_directory = text("RootDirectory");
    if (auto it = props.find("Leader"); it != props.end()) d.leader = it->second.get<uint32_t>();
    return d;
  } catch (const sdbus::Error& e) {
    // It may have gone between the two calls.
    if (e.getName() == "org.freedesktop.DBus.Error.UnknownObject" || e.getName() == kNoSuchMachine) return std::nullopt;
    throw bus_error("reading the properties of machine " + quote(name), e);
  }
}

void MachineManager::register_machine(const MachineRegistration& m) {
  sd_id128_t id;
  if (int r = sd_id128_from_string(m.uuid.c_str(), &id); r < 0)
    throw Error("registering machine " + quote(m.name) + ": " + quote(m.uuid) + " is not a UUID");
  std::vector<uint8_t> id_bytes(id.bytes, id.bytes + sizeof id.bytes);
  call("registering machine " + quote(m.name) + " with systemd-machined", [&] {
    manager(bus_)
        ->callMethod("RegisterMachine")
        .onInterface(kMachinedManager)
        .withArguments(m.name, id_bytes, m.service, std::string("container"), m.leader, m.root_directory);
  });
}

void MachineManager::unregister_machine(const std::string& name) {
  try {
    manager(bus_)->callMethod("UnregisterMachine").onInterface(kMachinedManager).withArguments(name);
  } catch (const sdbus::Error& e) {
    if (e.getName() == kNoSuchMachine) return;
    throw bus_error("unregistering machine " + quote(name), e);
  }
}

void MachineManager::kill_machine(const std::string& name, const std::string& who, int signal) {
  call("sending signal " + std::to_string(signal) + " to machine " + quote(name), [&] {
    manager(bus_)->callMethod("KillMachine").onInterface(kMachinedManager).withArguments(name, who, int32_t{signal});
  });
}

void MachineManager::poweroff_machine(const std::string& name) { kill_machine(name, "leader", SIGRTMIN + 4); }

}  // namespace crt::dbus
