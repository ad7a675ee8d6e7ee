#include "runtime/service_progress.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>

namespace crt::runtime {

namespace {

/// "sha256:0123456789ab" of a digest, whole otherwise.
std::string short_id(const std::string& id) { return id.rfind("sha256:", 0) == 0 ? id.substr(0, 19) : id; }

}  // namespace

ServiceProgress::ServiceProgress(store::Progress& inner, Notify notify, std::function<Clock::time_point()> now)
    : inner_(inner), notify_(std::move(notify)), now_(std::move(now)) {}

void ServiceProgress::send(const std::string& status) {
  last_sent_ = now_();
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(kExtension).count();
  notify_("STATUS=" + status + "\nEXTEND_TIMEOUT_USEC=" + std::to_string(usec));
}

void ServiceProgress::start(const std::string& id, const std::string& action, int64_t total) {
  inner_.start(id, action, total);
  if (!notify_) return;
  active_[id] = Task{action, total};
  send(action + " " + short_id(id) +
       (total >= 0 ? " (" + store::human_bytes(static_cast<uint64_t>(total)) + ")" : std::string()));
}

void ServiceProgress::update(const std::string& id, uint64_t done) {
  inner_.update(id, done);
  if (!notify_ || now_() - last_sent_ < kInterval) return;
  auto it = active_.find(id);
  if (it == active_.end() || done <= it->second.most) return;
  it->second.most = done;
  std::string status = it->second.action + " " + short_id(id) + ": " + store::human_bytes(done);
  if (it->second.total >= 0) status += " of " + store::human_bytes(static_cast<uint64_t>(it->second.total));
  send(status);
}

void ServiceProgress::finish(const std::string& id, const std::string& result) {
  inner_.finish(id, result);
  // A layer the store has already ends without having started: nothing to say.
  if (!notify_ || active_.erase(id) == 0) return;
  // The last task done: the status goes.
  send(active_.empty() ? std::string() : active_.begin()->second.action + " " + short_id(active_.begin()->first));
}

std::function<void(std::chrono::milliseconds)> cleanup_renewal(ServiceProgress::Notify notify) {
  if (!notify) return {};
  return [notify = std::move(notify)](std::chrono::milliseconds most) {
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(most + kCleanupAfterProgram).count();
    notify("EXTEND_TIMEOUT_USEC=" + std::to_string(usec));
  };
}

std::chrono::milliseconds cleanup_time(std::chrono::milliseconds plugin_limit) {
  if (plugin_limit.count() <= 0) return pod::kStopCleanup;
  return std::max(pod::kStopCleanup, plugin_limit + kTimeLimitOverrun + kCleanupAfterProgram);
}

ServiceProgress::Notify service_notifier() {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return {};
  return [](const std::string& message) { sd_notify(0, message.c_str()); };
}

}  // namespace crt::runtime
