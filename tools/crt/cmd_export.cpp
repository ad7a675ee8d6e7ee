// crt export: an exited app's rootfs with its changes as an oci-archive.

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "commands.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "runtime/export_pod.hpp"

namespace crt::cli {

namespace {

/// The time SOURCE_DATE_EPOCH (reproducible-builds.org) gives, for what an
/// export would date now; empty when it is unset. A value that is no whole
/// number of seconds since 1970 is an error, as that convention asks.
std::string source_date() {
  const char* v = std::getenv("SOURCE_DATE_EPOCH");
  if (v == nullptr) return {};
  std::string_view s(v);
  int64_t seconds = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), seconds);
  constexpr int64_t kYear9999 = 253402300799;
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || seconds < 0 || seconds > kYear9999)
    throw Error("SOURCE_DATE_EPOCH=" + quote(std::string(s)) + " is not a number of seconds since 1970");
  return rfc3339_from_seconds(seconds);
}

}  // namespace

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
  cmd->footer(
      "The new image is dated now, or at SOURCE_DATE_EPOCH (seconds since 1970) when that is set: the same pod "
      "then exports to the same archive.\n\n"
      "Example:\n  crt export --app=busybox 5f3e out.tar && crt image import out.tar changed:latest");
  cmd->callback([a, &g, &exit_status] {
    require_root("crt export");
    // With --uuid-file, the one positional argument is OUT.
    if (!a->ref.uuid_file.empty() && a->out.empty()) std::swap(a->out, a->ref.pod);
    if (a->out.empty()) throw Error("crt export needs the archive to write: crt export POD OUT");
    a->req.out = a->out;
    a->req.mode = 0644 & ~g.callers_umask;
    a->req.created = source_date();
    std::string app_name = with_pod_ref(a->ref, [&](const std::string& pod) {
      a->req.pod = pod;
      return runtime::export_pod(g.dir, a->req, print_message);
    });
    print_message("exported app " + app_name + " to " + (a->out == "-" ? "stdout" : a->out));
    exit_status = 0;
  });
}

}  // namespace crt::cli
