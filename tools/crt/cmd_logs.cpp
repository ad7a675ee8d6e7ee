// crt logs: an app's output from the pod's journal, while it runs and after.

#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>

#include "commands.hpp"
#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "runtime/pod_journal.hpp"
#include "runtime/pods.hpp"

namespace crt::cli {

namespace {

/// --since: a time (RFC 3339, UTC) or how long ago; microseconds since the
/// epoch.
uint64_t since_usec(const std::string& s) {
  if (auto t = usec_from_rfc3339(s)) return *t;
  std::chrono::milliseconds ago{};
  try {
    ago = parse_duration(s);
  } catch (const std::exception&) {  // crt::Error, or a number out of range
    throw Error("invalid --since " + quote(s) + ": give how long ago (10m, 1h30m) or a time (2026-11-30T19:00:00Z)");
  }
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
  auto t = now - std::chrono::duration_cast<std::chrono::microseconds>(ago);
  return t.count() > 0 ? static_cast<uint64_t>(t.count()) : 0;
}

}  // namespace

void add_logs_command(CLI::App& app, const GlobalOptions& g, int&) {
  struct Args {
    PodRef ref;
    std::string app;
    bool follow = false;
    std::string tail;
    std::string since;
    bool timestamps = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("logs", "Show the output of a pod's apps, also after the pod exited");
  cmd->footer(
      "The output comes from the pod's journal, which keeps its latest 64 MB (older output is removed as it\n"
      "grows), without the empty lines journald leaves out.");
  add_pod_ref(cmd, a->ref);
  cmd->add_option("APP", a->app, "Only this app");
  cmd->add_flag("-f,--follow", a->follow, "Keep printing new output until the pod exits");
  cmd->add_option("-n,--tail", a->tail, "Only the last N lines (then what follows, with -f)")->type_name("N");
  cmd->add_option("--since", a->since, "Only output from this time on: how long ago (10m, 1h30m) or an RFC 3339 time "
                                       "in UTC (2026-11-30T19:00:00Z)")
      ->type_name("WHEN");
  cmd->add_flag("-t,--timestamps", a->timestamps, "Begin each line with the time the pod's journal got it (UTC)");
  cmd->callback([a, &g] {
    require_root("crt logs");
    std::optional<uint64_t> since;
    if (!a->since.empty()) since = since_usec(a->since);
    std::optional<size_t> tail;
    if (!a->tail.empty()) {
      size_t n = 0;
      auto [p, ec] = std::from_chars(a->tail.data(), a->tail.data() + a->tail.size(), n);
      if (ec != std::errc() || p != a->tail.data() + a->tail.size())
        throw Error("invalid --tail " + quote(a->tail) + ": give a number of lines");
      tail = n;
    }
    // crt logs --uuid-file=F APP: the one word is the app.
    if (!a->ref.uuid_file.empty() && !a->ref.pod.empty() && a->app.empty()) std::swap(a->ref.pod, a->app);
    runtime::PodEntry e = runtime::find_pod(g.dir, pod_ref_string(a->ref));
    runtime::PodInfo info = runtime::pod_info(e);
    if (!info.manifest) throw Error("pod " + e.uuid + " has no manifest yet");
    // An interactive app of a pod that an older crt started.
    if (info.manifest->interactive && !info.manifest->output_sockets && !info.manifest->terminal_to_journal)
      print_message("pod " + e.uuid + " ran its app with --interactive " +
                    (info.manifest->interactive_tty ? "on a terminal " : "") +
                    "under an older crt: the app's output went to crt run, not to the journal");
    std::vector<std::string> apps;
    for (const auto& m : info.manifest->apps) apps.push_back(m.name);
    if (!a->app.empty()) {
      if (std::find(apps.begin(), apps.end(), a->app) == apps.end())
        throw Error("pod " + e.uuid + " has no app " + quote(a->app));
      apps = {a->app};
    }
    std::string id = e.uuid;
    std::erase(id, '-');
    auto dir = e.path / "overlay" / "stage1" / "upper" / "var" / "log" / "journal" / id;
    if (!std::filesystem::exists(dir)) {
      // Never started: no output, and said why.
      print_message("pod " + e.uuid + " has not run yet" +
                    (e.status() == runtime::PodStatus::kPrepared ? " (start it with 'crt run-prepared')" : "") +
                    ": no output");
      return;
    }
    runtime::PodJournal journal(dir, apps);
    // Said once the output is out, so that it is not lost above it.
    bool lost_oldest = !since && journal.lost_oldest();
    if (since) journal.seek_realtime(*since);
    bool prefix = apps.size() > 1;
    auto text = [&](const runtime::JournalLine& l) {
      std::string line = runtime::output_line(l, prefix);
      return a->timestamps ? rfc3339_from_usec(l.realtime_us) + " " + line : line;
    };
    auto print = [&] {
      journal.for_each_new([&](const runtime::JournalLine& l) {
        if (l.kind == runtime::JournalLine::Kind::kPodError) return;  // the app's own only
        std::string s = text(l);
        std::fwrite(s.data(), 1, s.size(), stdout);
      });
      std::fflush(stdout);
    };
    if (tail) {
      std::deque<std::string> last;
      journal.for_each_new([&](const runtime::JournalLine& l) {
        if (l.kind == runtime::JournalLine::Kind::kPodError || *tail == 0) return;
        if (last.size() == *tail) last.pop_front();
        last.push_back(text(l));
      });
      for (const auto& s : last) std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
      // All asked for is there, however much went before.
      if (last.size() == *tail) lost_oldest = false;
    } else {
      print();
    }
    if (lost_oldest)
      print_message("the pod's journal no longer has the oldest output of its apps: it keeps their latest 64 MB");
    // Looked at in its directory alone (pod_info() would ask the pod's
    // systemd each time); a pod removed meanwhile (crt rm) has ended.
    auto running = [&] {
      try {
        return runtime::find_pod(g.dir, e.uuid).status() == runtime::PodStatus::kRunning;
      } catch (const Error&) {
        return false;
      }
    };
    while (a->follow && running()) {
      journal.wait(200000);
      journal.process();
      print();
    }
    if (a->follow) {
      journal.process();
      print();
    }
  });
}

}  // namespace crt::cli
