// crt image pull: an image from an OCI distribution registry.

#include <cstdio>

#include "cmd_image.hpp"
#include "common/error.hpp"
#include "progress_view.hpp"
#include "registry_args.hpp"
#include "runtime/image_pull.hpp"
#include "runtime/service_progress.hpp"
#include "runtime/signals.hpp"

namespace crt::cli {

namespace {

struct PullArgs {
  std::string ref;
  bool quiet = false;
  registry::RegistryFlags registry;
  std::string platform;
};

}  // namespace

void add_image_pull(CLI::App& image, const GlobalOptions& g) {
  auto a = std::make_shared<PullArgs>();
  CLI::App* c = image.add_subcommand(
      "pull",
      "Pull an image from a registry (REGISTRY/REPOSITORY[:TAG][@DIGEST]; a short name goes to the default "
      "registries of crt.conf, in order). Prints the image id.");
  c->add_option("IMAGE", a->ref, "The image to pull")->required();
  c->add_flag("-q,--quiet", a->quiet, "Print only the image id, no progress");
  registry::add_registry_flags(*c, a->registry);
  c->add_option("--platform", a->platform,
                "OS/ARCH[/VARIANT] to take from a multi-platform image (default: this machine's); given, it also "
                "refuses a single-platform image of another platform");
  c->callback([a, &g] {
    require_root("crt image pull");
    store::Store s(g.dir);
    ProgressView view(stderr, a->quiet);
    runtime::ServiceProgress progress(view, runtime::service_notifier());
    runtime::ResolveOptions opts = resolve_options(g, a->registry, a->quiet);
    if (!a->platform.empty()) opts.pull.platform = store::oci::parse_platform(a->platform);
    opts.progress = &progress;
    s.set_lock_wait(opts.store_wait);
    s.set_messages(print_message);
    // Ctrl-C or a SIGTERM ends the pull at its next piece of data. A layer
    // half unpacked is removed; what it downloaded (a blob cut short in the
    // store's tmp/, whole ones in its blobs/) and the layers it unpacked
    // whole stay for the next pull to go on from, until crt image gc
    // removes what no image uses.
    runtime::SignalBlock signals;
    store::Image im;
    try {
      im = runtime::pull(s, a->ref, opts);
    } catch (const Error& e) {
      runtime::check_interrupted();  // said as the signal that ended it
      // A path is no reference (nor anything a registry has). Not just any
      // name a file here has: "alpine" is a short name all the same.
      if (a->ref.starts_with('/') || a->ref.starts_with("./") || a->ref.starts_with("../"))
        throw Error(std::string(e.what()) + " (a directory or archive on this machine is imported: crt image import " +
                    quote(a->ref) + " NAME)");
      throw;
    }
    std::printf("%s\n", im.id.c_str());
    view.summary("pulled " + (im.names.empty() ? a->ref : im.names.front()) + " (" + im.id.substr(7, 12) + ", " +
                 std::to_string(im.layers.size()) + (im.layers.size() == 1 ? " layer" : " layers") + ")");
  });
}

}  // namespace crt::cli
