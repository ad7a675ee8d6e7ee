#include "runtime/pod_journal.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "common/error.hpp"
#include "mount/overlay.hpp"

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

/// Closing the last reference to an inotify descriptor waits for the kernel
/// to retire its watches, an SRCU grace period: 10-15 ms here, which crt run
/// would spend after its pod has ended (and the same at exit, had it not
/// closed it). A child that holds only a copy of `fd` takes that last
/// reference instead, and the caller closes its own at once; the child ends
/// by itself and is reaped when crt exits.
void close_inotify_in_background(int fd, const std::function<void()>& close_own) {
  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) < 0) return close_own();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Not in crt's private mount namespace: the pod's mounts go when crt
    // exits, as they did, not when this child does.
    if (int host = mount::original_mount_namespace(); host >= 0) ::setns(host, CLONE_NEWNS);
    int keep[2] = {std::min(fd, gate[0]), std::max(fd, gate[0])};
    if (keep[0] > 0) ::close_range(0, static_cast<unsigned>(keep[0]) - 1, 0);
    ::close_range(static_cast<unsigned>(keep[0]) + 1, static_cast<unsigned>(keep[1]) - 1, 0);
    ::close_range(static_cast<unsigned>(keep[1]) + 1, ~0U, 0);
    char c;
    while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);  // the slow close happens here
  }
  ::close(gate[0]);
  close_own();           // not the last reference when the child holds one
  ::close(gate[1]);      // now the child may go
}

}  // namespace

PodJournal::PodJournal(const std::filesystem::path& dir, std::vector<std::string> apps) : apps_(std::move(apps)) {
  if (int r = sd_journal_open_directory(&j_, dir.c_str(), 0); r < 0)
    throw_errno(-r, "opening the pod's journal " + quote(dir.string()));
  sd_journal_seek_head(j_);
}

PodJournal::~PodJournal() {
  if (watched_ >= 0)
    close_inotify_in_background(watched_, [this] { sd_journal_close(j_); });
  else
    sd_journal_close(j_);
}

int PodJournal::fd() {
  int fd = sd_journal_get_fd(j_);
  if (fd < 0) throw_errno(-fd, "watching the pod's journal");
  watched_ = fd;
  return fd;
}

uint32_t PodJournal::events() const { return static_cast<uint32_t>(sd_journal_get_events(j_)); }

void PodJournal::process() { sd_journal_process(j_); }

void PodJournal::wait(uint64_t timeout_us) {
  watched_ = sd_journal_get_fd(j_);
  sd_journal_wait(j_, timeout_us);
}

bool PodJournal::next(JournalLine& out) {
  while (sd_journal_next(j_) > 0) {
    auto message = field(j_, "MESSAGE");
    if (!message) continue;
    uint64_t t = 0;
    sd_journal_get_realtime_usec(j_, &t);
    auto ident = field(j_, "SYSLOG_IDENTIFIER");
    if (ident && *ident == "systemd") {
      // The pod's systemd (or its forked children) about a unit: only its
      // errors are of interest here.
      auto prio = field(j_, "PRIORITY");
      if (!prio || prio->empty() || (*prio)[0] > '3') continue;
      out = {JournalLine::Kind::kPodError, {}, *message, t};
      return true;
    }
    auto is_app = [&](const std::string& name) { return std::find(apps_.begin(), apps_.end(), name) != apps_.end(); };
    std::string app;
    auto transport = field(j_, "_TRANSPORT");
    if (transport && *transport == "stdout" && ident && is_app(std::string(*ident))) {
      // An app's stdout and stderr: the stream's identifier is the app's
      // name (SyslogIdentifier=), written by the pod's systemd, not by the
      // app. journald's _SYSTEMD_UNIT is not to be trusted for streams: it
      // is the cgroup of the process that connected, which can still be
      // init.scope when systemd is slow to move its child (as with
      // --log-level=debug).
      app = std::string(*ident);
    } else {
      auto unit = field(j_, "_SYSTEMD_UNIT");
      if (!unit) continue;
      app = std::string(*unit);
      if (app.size() > 8 && app.compare(app.size() - 8, 8, ".service") == 0) app.resize(app.size() - 8);
      if (!is_app(app)) continue;
    }
    out = {JournalLine::Kind::kApp, std::move(app), *message, t};
    return true;
  }
  return false;
}

}  // namespace crt::runtime
