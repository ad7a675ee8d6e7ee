#include "runtime/pod_journal.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/slow_close.hpp"

namespace crt::runtime {

namespace {

std::optional<std::string_view> field(sd_journal* j, const char* name) {
  const void* data = nullptr;
  size_t len = 0;
  if (sd_journal_get_data(j, name, &data, &len) < 0) return std::nullopt;
  std::string_view v(static_cast<const char*>(data), len);
  size_t eq = v.find('=');
  return eq == std::string_view::npos ? std::string_view() : v.substr(eq + 1);
}

/// Closes `j`, whose inotify descriptor is `inotify_fd` (-1: none yet). Its
/// last close would wait for a grace period (see slow_close.hpp), at the
/// end of every crt run: a child holds a copy meanwhile, and `j` is closed
/// at once.
void close_journal(sd_journal* j, int inotify_fd) {
  UniqueFd held = inotify_fd >= 0 ? hold_in_child({inotify_fd}) : UniqueFd();
  sd_journal_close(j);  // not the last reference while the child holds one
}  // `held` closes: the child may go

}  // namespace

std::string app_line(std::string_view app, std::string_view text) {
  std::string line;
  line.reserve(app.size() + text.size() + 3);
  line.append(app).append(": ").append(text).push_back('\n');
  return line;
}

std::string output_line(const JournalLine& l, bool with_app_name) {
  if (with_app_name) return app_line(l.app, l.message);
  std::string line;
  line.reserve(l.message.size() + 1);
  line.append(l.message).push_back('\n');
  return line;
}

PodJournal::PodJournal(const std::filesystem::path& dir, std::vector<std::string> apps, std::vector<std::string> shown)
    : apps_(std::move(apps)), shown_(std::move(shown)) {
  if (int r = sd_journal_open_directory(&j_, dir.c_str(), 0); r < 0)
    throw_errno(-r, "opening the pod's journal " + quote(dir.string()));
  sd_journal_seek_head(j_);
}

PodJournal::~PodJournal() { close_journal(j_, held_elsewhere_ ? -1 : watched_); }

int PodJournal::fd() {
  int fd = sd_journal_get_fd(j_);
  if (fd < 0) throw_errno(-fd, "watching the pod's journal");
  watched_ = fd;
  return fd;
}

uint32_t PodJournal::events() const { return static_cast<uint32_t>(sd_journal_get_events(j_)); }

void PodJournal::process() { sd_journal_process(j_); }

void PodJournal::seek_realtime(uint64_t realtime_us) {
  since_us_ = realtime_us;
  sd_journal_seek_realtime_usec(j_, realtime_us);
}

bool PodJournal::lost_oldest() {
  // A cursor is "s=SEQNUM_ID;i=SEQNUM;b=…": a pod's journald numbers its
  // entries from 1, once (the pod's journal starts with the pod).
  bool lost = false;
  char* cursor = nullptr;
  if (sd_journal_seek_head(j_) >= 0 && sd_journal_next(j_) > 0 && sd_journal_get_cursor(j_, &cursor) >= 0) {
    std::string_view c(cursor);
    size_t at = c.find(";i=");
    if (at != std::string_view::npos) {
      c.remove_prefix(at + 3);
      lost = c.substr(0, c.find(';')) != "1";
    }
  }
  std::free(cursor);
  sd_journal_seek_head(j_);
  return lost;
}

void PodJournal::wait(uint64_t timeout_us) {
  watched_ = sd_journal_get_fd(j_);
  sd_journal_wait(j_, timeout_us);
}

bool PodJournal::next(JournalLine& out) {
  auto in_pod = [&](std::string_view name) { return std::find(apps_.begin(), apps_.end(), name) != apps_.end(); };
  auto shown = [&](std::string_view name) {
    return shown_.empty() ? in_pod(name) : std::find(shown_.begin(), shown_.end(), name) != shown_.end();
  };
  while (sd_journal_next(j_) > 0) {
    auto message = field(j_, "MESSAGE");
    if (!message) continue;
    uint64_t t = 0;
    sd_journal_get_realtime_usec(j_, &t);
    if (t < since_us_) continue;  // files interleave: the seek is a start
    auto ident = field(j_, "SYSLOG_IDENTIFIER");
    auto transport = field(j_, "_TRANSPORT");
    // An app's output stream, whatever the app's name (an app may be called
    // "systemd").
    bool app_stream = transport && *transport == "stdout" && ident && in_pod(*ident);
    if (ident && !app_stream && (*ident == "systemd" || (*ident == "prepare-app" && !in_pod("prepare-app")))) {
      // The pod's systemd (or its forked children) about a unit, or crt's
      // own helper that prepares an app's rootfs: only their errors are of
      // interest here.
      if (*ident == "systemd" && says_again_why_an_app_failed()) continue;
      auto prio = field(j_, "PRIORITY");
      if (!prio || prio->empty() || (*prio)[0] > '3') continue;
      out = {JournalLine::Kind::kPodError, {}, *message, t};
      return true;
    }
    // The app whose unit journald found the sender in, if any.
    auto unit = field(j_, "_SYSTEMD_UNIT");
    std::string_view unit_app;
    if (unit && unit->ends_with(".service") && in_pod(unit->substr(0, unit->size() - 8)))
      unit_app = unit->substr(0, unit->size() - 8);
    std::string_view app;
    if (app_stream) {
      // An app's stdout and stderr: the stream's identifier is the app's
      // name (SyslogIdentifier=), written by the pod's systemd. journald's
      // _SYSTEMD_UNIT is the cgroup of the process that connected, which
      // can still be init.scope when systemd is slow to move its child (as
      // with --log-level=debug). But an app can open a stream of its own
      // and name another app in its header: its own unit tells then.
      app = unit_app.empty() ? *ident : unit_app;
    } else if (!unit_app.empty()) {
      app = unit_app;
    } else if (unit || apps_.size() != 1) {
      continue;
    } else {
      // journald names a message's unit from its sender's cgroup, which it
      // reads when it gets to the message: a sender that has ended by then
      // (logger, say) leaves no unit. Every process of the pod but the
      // pod's systemd (PID 1) and journald (its own "driver" messages) is
      // an app's, so in a pod of one app, such a message is that app's.
      // With several apps, whose it is cannot be told.
      auto pid = field(j_, "_PID");
      bool sent = transport && (*transport == "syslog" || *transport == "journal");
      if (!sent || !pid || *pid == "1") continue;
      app = apps_.front();
    }
    if (!shown(app)) continue;
    // The pod's systemd's child that was to become the app, renamed
    // "(COMMAND)", on why it could not (exec failed: 203, say).
    auto prio = field(j_, "PRIORITY");
    bool start_error = transport && *transport == "journal" && ident && ident->size() > 2 && ident->front() == '(' &&
                       ident->back() == ')' && prio && !prio->empty() && (*prio)[0] <= '3';
    if (start_error) said_why_.emplace_back(app);
    out = {start_error ? JournalLine::Kind::kAppStartError : JournalLine::Kind::kApp, std::string(app), *message, t};
    return true;
  }
  return false;
}

bool PodJournal::says_again_why_an_app_failed() {
  auto unit = field(j_, "UNIT");
  if (!unit || !unit->ends_with(".service")) return false;
  std::string app(unit->substr(0, unit->size() - 8));
  if (std::find(apps_.begin(), apps_.end(), app) == apps_.end()) return false;
  // SD_MESSAGE_UNIT_FAILED of a start job that failed (not "Dependency
  // failed for …", whose JOB_RESULT is "dependency": its cause is shown).
  if (field(j_, "MESSAGE_ID") != "be02cf6855d2428ba40df7e9d022f03d" || field(j_, "JOB_TYPE") != "start" ||
      field(j_, "JOB_RESULT") != "failed") {
    // What says why before it: an error about the unit, shown ("Failed at
    // step EXEC spawning …"), or the start limit refusing a start (a
    // warning, not shown: crt says it). The unit's result says so only of
    // an app whose runs ended well: systemd keeps a failed run's result.
    auto prio = field(j_, "PRIORITY");
    auto message = field(j_, "MESSAGE");
    bool start_limit = field(j_, "UNIT_RESULT") == "start-limit-hit" ||
                       field(j_, "CODE_FUNC") == "unit_test_start_limit" ||
                       (message && message->ends_with(": Start request repeated too quickly."));
    if (start_limit || (prio && !prio->empty() && (*prio)[0] <= '3')) said_why_.push_back(app);
    return false;
  }
  auto said = std::find(said_why_.begin(), said_why_.end(), app);
  if (said == said_why_.end()) return false;
  said_why_.erase(said);
  return true;
}

}  // namespace crt::runtime
