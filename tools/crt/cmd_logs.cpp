// crt logs: an app's output from the pod's journal, while it runs and after.

#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "pod/manifest.hpp"
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

/// Where pod `e` keeps its journal.
std::filesystem::path journal_dir(const runtime::PodEntry& e) {
  std::string id = e.uuid;
  std::erase(id, '-');
  return e.path / "overlay" / "stage1" / "upper" / "var" / "log" / "journal" / id;
}

bool starting_or_running(runtime::PodStatus st) {
  return st == runtime::PodStatus::kPreparing || st == runtime::PodStatus::kRunning;
}

/// Pod `e` where it is now (it moves as it starts and ends), and as it is
/// now, if it still is.
std::optional<runtime::PodEntry> now(const GlobalOptions& g, const runtime::PodEntry& e) {
  try {
    return runtime::find_pod(g.dir, e.uuid);
  } catch (const Error&) {
    return std::nullopt;
  }
}

/// A pod just started has no manifest or journal until its crt and then its
/// journald have made them: -f waits for them while it is starting or
/// running.
runtime::PodEntry wait_for_journal(const GlobalOptions& g, runtime::PodEntry e) {
  while (starting_or_running(e.status()) &&
         (!std::filesystem::exists(journal_dir(e)) || !runtime::read_manifest(e.path))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::optional<runtime::PodEntry> later = now(g, e);
    if (!later) break;
    e = *later;
  }
  return e;
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
        throw Error("invalid -n/--tail " + quote(a->tail) + ": give a number of lines (0 or more)");
      tail = n;
    }
    // crt logs --uuid-file=F APP: the one word is the app.
    if (!a->ref.uuid_file.empty() && !a->ref.pod.empty() && a->app.empty()) std::swap(a->ref.pod, a->app);
    runtime::PodEntry e = with_pod_ref(a->ref, [&](const std::string& pod) { return runtime::find_pod(g.dir, pod); });
    if (a->follow) e = wait_for_journal(g, e);
    runtime::PodInfo info = runtime::pod_info(e);
    if (!info.manifest) {
      // Its first write pending, or damaged: which, said.
      if (std::error_code ec; std::filesystem::exists(e.path / "pod.json", ec))
        with_context("pod " + e.uuid + ": reading its manifest",
                     [&] { (void)pod::parse_manifest(fs::read_file(e.path / "pod.json")); });
      throw Error("pod " + e.uuid + " has no manifest yet");
    }
    // An interactive app of a pod that an older crt started.
    if (info.manifest->interactive && !info.manifest->output_sockets && !info.manifest->terminal_to_journal)
      print_message("pod " + e.uuid + " ran its app with --interactive " +
                    (info.manifest->interactive_tty ? "on a terminal " : "") +
                    "under an older crt: the app's output went to crt run, not to the journal");
    std::vector<std::string> apps;
    for (const auto& m : info.manifest->apps) apps.push_back(m.name);
    if (!a->app.empty() && std::find(apps.begin(), apps.end(), a->app) == apps.end())
      throw Error("pod " + e.uuid + " has no app " + quote(a->app));
    std::filesystem::path dir = journal_dir(e);
    if (!std::filesystem::exists(dir)) {
      // No output, and said why.
      std::optional<runtime::PodEntry> later = now(g, e);
      runtime::PodStatus st = later ? later->status() : e.status();
      if (starting_or_running(st))
        print_message("pod " + e.uuid + " has no output yet");
      else if (st == runtime::PodStatus::kPrepared)
        print_message("pod " + e.uuid + " has not run yet (start it with 'crt run-prepared'): no output");
      else
        print_message("pod " + e.uuid + " left no output: it ended before its journal was started");
      return;
    }
    runtime::PodJournal journal(dir, apps, a->app.empty() ? std::vector<std::string>{} : std::vector{a->app});
    // Said once the output is out, so that it is not lost above it.
    bool lost_oldest = !since && journal.lost_oldest();
    if (since) journal.seek_realtime(*since);
    bool prefix = apps.size() > 1 && a->app.empty();
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
