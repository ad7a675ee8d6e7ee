#pragma once

#include <cstdint>
#include <string>

namespace crt::store {

/// Receives what a pull or an import is doing, one task per blob. The
/// default does nothing; the CLI draws it on a terminal.
class Progress {
 public:
  virtual ~Progress() = default;
  /// Starts task `id` (a blob digest): `action` ("fetching", "unpacking"
  /// …) of `total` bytes (-1: unknown).
  virtual void start(const std::string& id, const std::string& action, int64_t total) {
    (void)id, (void)action, (void)total;
  }
  /// `done` bytes of task `id` are done.
  virtual void update(const std::string& id, uint64_t done) { (void)id, (void)done; }
  /// Task `id` ended: "done", "exists", "resumed at N" …
  virtual void finish(const std::string& id, const std::string& result) { (void)id, (void)result; }
};

/// "1.5 MB", "230 kB", "12 B".
std::string human_bytes(uint64_t bytes);

}  // namespace crt::store
