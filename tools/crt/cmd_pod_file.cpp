// crt pod-file validate: checks pod files (crt.pod(5)) as crt-generator
// would read them at boot, and prints the unit each becomes.

#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "podfile/generate.hpp"

namespace crt::cli {

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
        if (f.link.empty()) std::printf("# %s\n%s\n", f.path.c_str(), f.content.c_str());
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
}

}  // namespace crt::cli
