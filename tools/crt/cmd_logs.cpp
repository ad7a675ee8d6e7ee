// crt logs: an app's output from the pod's journal, while it runs and after.

#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "runtime/pod_journal.hpp"
#include "runtime/pods.hpp"

namespace crt::cli {

void add_logs_command(CLI::App& app, const GlobalOptions& g, int&) {
  struct Args {
    PodRef ref;
    std::string app;
    bool follow = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("logs", "Show the output of a pod's apps, also after the pod exited");
  add_pod_ref(cmd, a->ref);
  cmd->add_option("APP", a->app, "Only this app");
  cmd->add_flag("-f,--follow", a->follow, "Keep printing new output until the pod exits");
  cmd->callback([a, &g] {
    require_root("crt logs");
    runtime::PodEntry e = runtime::find_pod(g.dir, pod_ref_string(a->ref));
    runtime::PodInfo info = runtime::pod_info(e);
    if (!info.manifest) throw Error("pod " + e.uuid + " has no manifest yet");
    if (info.manifest->interactive)
      print_message("pod " + e.uuid + " ran its app with --interactive: the app's output went to crt run, not to the journal");
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
    if (!std::filesystem::exists(dir)) return;  // never started: no output
    runtime::PodJournal journal(dir, apps);
    bool prefix = apps.size() > 1;
    auto print = [&] {
      journal.for_each_new([&](const runtime::JournalLine& l) {
        if (l.kind != runtime::JournalLine::Kind::kApp) return;
        if (prefix) std::printf("%s: ", l.app.c_str());
        std::fwrite(l.message.data(), 1, l.message.size(), stdout);
        std::fputc('\n', stdout);
      });
      std::fflush(stdout);
    };
    print();
    while (a->follow && runtime::pod_info(runtime::find_pod(g.dir, e.uuid)).entry.status() == runtime::PodStatus::kRunning) {
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
