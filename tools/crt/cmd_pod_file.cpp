// crt pod-file validate: checks pod files (crt.pod(5)) as crt-generator
// would read them at boot, and prints the unit each becomes.

#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "podfile/generate.hpp"

namespace crt::cli {

namespace {

/// What the unit crt-generator makes in the stead of a pod file it refused
/// runs (podfile::refused_pod_unit()): says why, in the unit's journal, and
/// what the file says now, and fails.
void add_refused_command(CLI::App& pf, int& exit_status) {
  auto file = std::make_shared<std::string>();
  auto why = std::make_shared<std::string>();
  CLI::App* r = pf.add_subcommand(
      "refused", "Say why crt-generator refused a pod file, and fail (what the unit made in its stead runs)");
  r->add_option("FILE", *file, "The pod file")->required();
  r->add_option("REASON", *why, "Why crt-generator refused it")->required();
  r->callback([file, why, &exit_status] {
    std::fprintf(stderr, "crt: the pod does not start: crt-generator refused its pod file: %s\n", why->c_str());
    podfile::Generated now = podfile::generate({*file}, data_dir().parent_path().parent_path() / "bin" / "crt");
    if (!now.masked.empty()) {
      std::fprintf(stderr, "crt: %s is masked now: 'systemctl daemon-reload' removes this unit\n",
                   quote(*file).c_str());
    } else if (now.errors.empty()) {
      std::fprintf(stderr, "crt: %s is valid now: 'systemctl daemon-reload' makes the pod's unit of it\n",
                   quote(*file).c_str());
    } else {
      for (const auto& e : now.errors)
        if (e != *why) std::fprintf(stderr, "crt: now: %s\n", e.c_str());
      std::fprintf(stderr, "crt: fix it ('crt pod-file validate %s' checks it), then run 'systemctl daemon-reload'\n",
                   file->c_str());
    }
    exit_status = kErrorExitCode;
  });
}

}  // namespace

void add_pod_file_command(CLI::App& app, const GlobalOptions&, int& exit_status) {
  CLI::App* pf = app.add_subcommand("pod-file", "Work with pod files (crt.pod(5)) for crt-generator");
  pf->require_subcommand(1);
  auto files = std::make_shared<std::vector<std::string>>();
  auto show = std::make_shared<bool>(false);
  CLI::App* v = pf->add_subcommand("validate", "Check pod files; errors name file, line and key");
  v->add_option("FILE", *files, "Pod files to check")->required();
  v->add_flag("--show-unit", *show, "Print the unit each valid file becomes");
  v->callback([files, show, &exit_status] {
    std::vector<std::filesystem::path> paths(files->begin(), files->end());
    podfile::Generated g = podfile::generate(paths, data_dir().parent_path().parent_path() / "bin" / "crt");
    if (*show)
      for (const auto& f : g.files)
        if (f.link.empty() && !f.refused) std::printf("# %s\n%s\n", f.path.c_str(), f.content.c_str());
    for (const auto& m : g.masked) std::printf("%s: masked (empty, or a link to /dev/null): no unit\n", m.c_str());
    for (const auto& e : g.errors) std::fprintf(stderr, "crt: %s\n", e.c_str());
    // Checked, but no unit at boot: the generator passes it over.
    for (const auto& p : paths)
      if (!podfile::is_pod_file_name(p.filename().string()))
        std::fprintf(stderr,
                     "crt: warning: %s: crt-generator reads only files named NAME.pod (NAME not starting with '.'): "
                     "under this name the file makes no unit\n",
                     quote(p.string()).c_str());
    exit_status = g.errors.empty() ? 0 : kErrorExitCode;
  });
  add_refused_command(*pf, exit_status);
}

}  // namespace crt::cli
