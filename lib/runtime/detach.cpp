#include "runtime/detach.hpp"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <chrono>

#include "common/error.hpp"
#include "dbus/systemd_manager.hpp"
#include "runtime/pods.hpp"

namespace crt::runtime {

namespace {

std::filesystem::path own_binary() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("finding crt's own binary: " + ec.message());
  return p;
}

void require_systemd_host() {
  if (sd_booted() <= 0)
    throw Error("--detach needs a host running systemd: the pod runs as one of its services");
}

/// Has the host's systemd run the prepared pod `uuid` and waits until it is ready.
void start_detached(dbus::Bus& bus, const std::string& uuid, bool debug, const RunContext& ctx) {
  std::string unit = detached_unit_name(uuid);
  std::string crt = own_binary().string();
  dbus::TransientService s;
  s.name = unit;
  s.description = "crt pod " + uuid;
  s.slice = "machine.slice";
  s.type = "notify";
  s.notify_access = "main";
  s.kill_mode = "mixed";
  s.delegate = true;
  s.accounting = true;
  std::vector<std::string> argv = {crt, "--dir=" + std::filesystem::absolute(ctx.state_dir).string(),
                                   "--local-config=" + std::filesystem::absolute(ctx.config_dir).string(), "run-prepared"};
  if (debug) argv.emplace_back("--debug");
  argv.push_back(uuid);
  s.exec_start.push_back({crt, argv});
  std::string result = with_context("starting pod " + uuid, [&] {
    return dbus::SystemdManager(bus).start_transient_service(s, std::chrono::minutes(3));
  });
  if (result != "done")
    throw Error("pod " + uuid + " did not start: job of " + quote(unit) + " " + result + " (see 'journalctl -u " + unit +
                "')");
}

}  // namespace

std::string detached_unit_name(const std::string& uuid) { return "crt-" + uuid + ".service"; }

std::string run_detached(const pod::RunRequest& req, const RunContext& ctx) {
  require_systemd_host();
  // Connect first: without a bus there is no point preparing the pod.
  dbus::Bus bus = dbus::Bus::system();
  std::string uuid = prepare_only(req, ctx);
  start_detached(bus, uuid, req.pod.debug, ctx);
  return uuid;
}

std::string run_prepared_detached(const std::string& ref, bool debug, const RunContext& ctx) {
  require_systemd_host();
  PodEntry e = find_pod(ctx.state_dir, ref);
  if (e.status() != PodStatus::kPrepared)
    throw Error("pod " + e.uuid + " is " + status_name(e.status()) + ", not prepared");
  dbus::Bus bus = dbus::Bus::system();
  start_detached(bus, e.uuid, debug, ctx);
  return e.uuid;
}

}  // namespace crt::runtime
