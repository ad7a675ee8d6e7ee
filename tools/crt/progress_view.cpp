#include "progress_view.hpp"

#include <unistd.h>

#include <algorithm>

namespace crt::cli {

using Clock = std::chrono::steady_clock;

ProgressView::ProgressView(std::FILE* out, bool quiet) : out_(out), enabled_(!quiet && ::isatty(::fileno(out)) == 1) {}

ProgressView::Task& ProgressView::task(const std::string& id) {
  auto it = std::find_if(tasks_.begin(), tasks_.end(), [&](const Task& t) { return t.id == id && t.result.empty(); });
  if (it != tasks_.end()) return *it;
  tasks_.push_back({id, "", -1, 0, "", Clock::now()});
  return tasks_.back();
}

void ProgressView::start(const std::string& id, const std::string& action, int64_t total) {
  Task& t = task(id);
  t.action = action;
  t.total = total;
  t.done = 0;
  t.started = Clock::now();
  draw(true);
}

void ProgressView::update(const std::string& id, uint64_t done) {
  task(id).done = done;
  draw(false);
}

void ProgressView::finish(const std::string& id, const std::string& result) {
  Task& t = task(id);
  if (t.action == "fetching") bytes_ += t.done;
  t.result = result;
  draw(true);
}

std::string ProgressView::line(const Task& t) const {
  std::string id = t.id.size() > 19 ? t.id.substr(7, 12) : t.id;
  std::string s = id + "  ";
  if (!t.result.empty()) return s + t.result;
  s += t.action + "  " + store::human_bytes(t.done);
  if (t.total >= 0) s += " / " + store::human_bytes(static_cast<uint64_t>(t.total));
  double secs = std::chrono::duration<double>(Clock::now() - t.started).count();
  if (secs > 0.2 && t.done > 0) {
    double rate = static_cast<double>(t.done) / secs;
    s += "  " + store::human_bytes(static_cast<uint64_t>(rate)) + "/s";
    if (t.total > 0 && static_cast<uint64_t>(t.total) > t.done)
      s += "  ETA " + std::to_string(static_cast<long>((static_cast<double>(t.total) - static_cast<double>(t.done)) / rate + 0.5)) + "s";
  }
  return s;
}

void ProgressView::draw(bool force) {
  if (!enabled_) return;
  auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  if (drawn_ > 0) std::fprintf(out_, "\x1b[%zuA", drawn_);
  for (const auto& t : tasks_) std::fprintf(out_, "\x1b[2K%s\n", line(t).c_str());
  drawn_ = tasks_.size();
  std::fflush(out_);
}

void ProgressView::summary(const std::string& what) {
  if (!enabled_) return;
  double secs = std::chrono::duration<double>(Clock::now() - begun_).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", secs);
  std::string s = what;
  if (bytes_ > 0) s += ", " + store::human_bytes(bytes_) + " fetched";
  std::fprintf(out_, "%s in %ss\n", s.c_str(), buf);
  std::fflush(out_);
}

}  // namespace crt::cli
