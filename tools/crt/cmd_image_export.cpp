// crt image export: an image as an oci-archive.

#include <cstdio>

#include "cmd_image.hpp"
#include "common/error.hpp"
#include "runtime/images.hpp"
#include "runtime/signals.hpp"
#include "store/export.hpp"

namespace crt::cli {

namespace {

struct ExportArgs {
  std::string ref;
  std::string out;
  bool overwrite = false;
};

}  // namespace

void add_image_export(CLI::App& image, const GlobalOptions& g) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* c = image.add_subcommand(
      "export",
      "Write an image as an oci-archive (an OCI image layout in a tar), which skopeo, podman and crt read back "
      "with the same digests");
  c->add_option("IMAGE", a->ref, "Image name[:tag], name@digest, id or id prefix")->required();
  c->add_option("FILE", a->out, "The archive to write; '-': stdout")->required();
  c->add_flag("--overwrite", a->overwrite, "Replace FILE if it exists (a regular file only)");
  c->callback([a, &g] {
    require_root("crt image export");  // the store is root's alone
    store::Store s(g.dir);
    s.set_messages(print_message);
    runtime::LockedImage found = runtime::find_image_locked(s, a->ref, data_dir());
    const store::Image& im = found.image;
    std::string name = im.names.empty() ? "" : im.name_for(a->ref);
    // Ctrl-C or a SIGTERM ends the export at its next write, and it removes
    // what it wrote.
    runtime::SignalBlock signals;
    store::export_oci_archive(s, im, a->out, name, std::nullopt, runtime::check_interrupted,
                              a->overwrite ? store::Replace::kYes : store::Replace::kNo, 0644 & ~g.callers_umask);
  });
}

}  // namespace crt::cli
