#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <systemd/sd-journal.h>

namespace crt::runtime {

/// An entry of a pod's journal that crt shows users.
struct JournalLine {
  enum class Kind {
    kApp,            ///< output of an app (its unit's processes)
    kAppStartError,  ///< why the pod's systemd could not start an app (its exec failed)
    kPodError,       ///< an error of the pod's own systemd, or of prepare-app
  };
  Kind kind;
  std::string app;  ///< for kApp
  std::string_view message;
  uint64_t realtime_us = 0;
};

/// How crt shows an app's line (crt run, crt logs): "MESSAGE\n", or with
/// `with_app_name` (a pod of several apps) "APP: MESSAGE\n".
std::string output_line(const JournalLine& l, bool with_app_name);

/// A line of app `app` in a pod of several apps: "APP: TEXT\n".
std::string app_line(std::string_view app, std::string_view text);

/// Reads a pod's journal (the directory journald writes inside stage1) from
/// the host, oldest first, as new entries arrive.
class PodJournal {
 public:
  /// `apps`: the pod's app names (their units' output is app output);
  /// `shown`: the apps whose output is shown (empty: all).
  PodJournal(const std::filesystem::path& dir, std::vector<std::string> apps, std::vector<std::string> shown = {});
  ~PodJournal();
  PodJournal(const PodJournal&) = delete;
  PodJournal& operator=(const PodJournal&) = delete;

  /// An fd that becomes readable when the journal changes, and its events.
  [[nodiscard]] int fd();
  [[nodiscard]] uint32_t events() const;
  /// Takes note of journal changes (call when fd() is readable).
  void process();
  /// Calls `on_line` for each new entry worth showing; an `on_line` that
  /// returns bool stops early by returning false (the entries after it
  /// stay new).
  template <typename F>
  void for_each_new(F&& on_line) {
    JournalLine l;
    while (next(l)) {
      if constexpr (std::is_same_v<std::invoke_result_t<F&, const JournalLine&>, bool>) {
        if (!on_line(l)) return;
      } else {
        on_line(l);
      }
    }
  }
  /// From now on, only entries from `realtime_us` (microseconds since the
  /// epoch) on are new.
  void seek_realtime(uint64_t realtime_us);
  /// Waits up to `timeout_us` for changes.
  void wait(uint64_t timeout_us);
  /// Whether journald has removed the journal's oldest entries (it keeps
  /// the latest SystemMaxUse=): its first entry is not its first sequence
  /// number. Call before reading: it starts over at the oldest entry.
  [[nodiscard]] bool lost_oldest();
  /// Another process holds a copy of fd() until this journal is closed:
  /// the close is not the last, and needs no child (see pod_journal.cpp).
  void inotify_held_elsewhere() { held_elsewhere_ = true; }

 private:
  bool next(JournalLine& out);
  /// Whether the entry at hand is the pod's systemd's "Failed to start
  /// APP.service - …" (its start job failed) of an app whose failure was
  /// said already: the line says no more than that, and beside crt's
  /// words it reads as a second failure. Said by the app's own "Failed to
  /// execute …" (kAppStartError), by an error of systemd's about the unit
  /// (shown), or by crt, which says why at the pod's end where systemd's
  /// start limit stopped the app's restarts. Where nothing said it (a
  /// notify app that ended or timed out before it was ready), the line
  /// stays. Takes note of what says it.
  bool says_again_why_an_app_failed();
  sd_journal* j_ = nullptr;
  uint64_t since_us_ = 0;
  int watched_ = -1;  ///< the journal's inotify fd, once there is one
  bool held_elsewhere_ = false;
  std::vector<std::string> apps_;
  std::vector<std::string> shown_;
  /// Apps whose last failure was said (says_again_why_an_app_failed()).
  std::vector<std::string> said_why_;
};

}  // namespace crt::runtime
