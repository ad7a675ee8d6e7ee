// crt export: an exited app's rootfs with its changes as an oci-archive.

#include <cstdio>

#include "commands.hpp"
#include "common/error.hpp"
#include "runtime/export_pod.hpp"

namespace crt::cli {

void add_export_command(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  struct Args {
    PodRef ref;
    runtime::ExportRequest req;
    std::string out;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write an exited app's rootfs with its changes as an oci-archive: its image plus one layer of what the app "
      "changed, deletions included (read back with 'crt image import', skopeo or podman)");
  add_pod_ref(cmd, a->ref);
  cmd->add_option("OUT", a->out, "The archive to write; '-': stdout");
  cmd->add_option("--app", a->req.app, "The app to export (needed when the pod has several)");
  cmd->add_flag("--overwrite", a->req.overwrite, "Replace OUT if it exists (a regular file only)");
  cmd->add_option("--name", a->req.ref_name,
                  "Name the image in the archive (org.opencontainers.image.ref.name): an image's name "
                  "(NAME[:TAG]), or a tag alone");
  cmd->footer("Example:\n  crt export --app=busybox 5f3e out.tar && crt image import out.tar changed:latest");
  cmd->callback([a, &g, &exit_status] {
    require_root("crt export");
    // With --uuid-file, the one positional argument is OUT.
    if (!a->ref.uuid_file.empty() && a->out.empty()) std::swap(a->out, a->ref.pod);
    if (a->out.empty()) throw Error("crt export needs the archive to write: crt export POD OUT");
    a->req.pod = pod_ref_string(a->ref);
    a->req.out = a->out;
    a->req.mode = 0644 & ~g.callers_umask;
    std::string app_name = runtime::export_pod(g.dir, a->req, print_message);
    std::fprintf(stderr, "crt: exported app %s to %s\n", app_name.c_str(), a->out == "-" ? "stdout" : a->out.c_str());
    exit_status = 0;
  });
}

}  // namespace crt::cli
