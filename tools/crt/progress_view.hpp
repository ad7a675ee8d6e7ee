#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "store/progress.hpp"

namespace crt::cli {

/// Draws per-blob progress (bytes, rate, ETA) on a terminal, redrawing in
/// place, and a summary at the end. Nothing is drawn unless `out` is a
/// terminal and `quiet` is off: scripts read only the result.
class ProgressView : public store::Progress {
 public:
  ProgressView(std::FILE* out, bool quiet);

  void start(const std::string& id, const std::string& action, int64_t total) override;
  void update(const std::string& id, uint64_t done) override;
  void finish(const std::string& id, const std::string& result) override;

  /// The closing line: what was done, how much, how long it took.
  void summary(const std::string& what);
  [[nodiscard]] bool enabled() const { return enabled_; }

 private:
  struct Task {
    std::string id;
    std::string action;
    int64_t total = -1;
    uint64_t done = 0;
    std::string result;  ///< set when finished
    std::chrono::steady_clock::time_point started;
  };
  Task& task(const std::string& id);
  void draw(bool force);
  [[nodiscard]] std::string line(const Task& t) const;

  std::FILE* out_;
  bool enabled_;
  std::vector<Task> tasks_;
  size_t drawn_ = 0;  ///< lines on screen from the last draw
  uint64_t bytes_ = 0;
  std::chrono::steady_clock::time_point begun_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace crt::cli
