// crt image rm and crt image gc.

#include <cstdio>

#include "cmd_image.hpp"
#include "common/error.hpp"
#include "progress_view.hpp"
#include "runtime/pods.hpp"
#include "store/store.hpp"

namespace crt::cli {

namespace {

struct RmArgs {
  std::vector<std::string> refs;
  bool force = false;
};

}  // namespace

void add_image_rm(CLI::App& image, const GlobalOptions& g) {
  auto a = std::make_shared<RmArgs>();
  CLI::App* c = image.add_subcommand("rm", "Remove images from the store, and the layers no other image uses");
  c->add_option("IMAGE", a->refs, "Image name[:tag], name@digest, id or id prefix")->required();
  c->add_flag("-f,--force", a->force,
              "Remove an image even if pods use it (their layers stay until they are gone and 'crt image gc' runs)");
  c->callback([a, &g] {
    require_root("crt image rm");
    store::Store s(g.dir);
    for (const auto& r : a->refs) {
      // A pod being prepared holds the store's lock shared until its overlays
      // are mounted, and then pins its images by its manifest.
      if (auto im = s.find(r); im && !a->force) {
        auto users = runtime::pods_using_image(g.dir, im->id);
        if (!users.empty())
          throw Error("image " + quote(r) + " is used by pod " + users.front() + "; stop the pod first (or use --force)");
      }
      store::Image im = s.remove(r, [&] { return runtime::layers_in_use(g.dir); });
      std::printf("removed %s\n", (im.names.empty() ? im.id : im.names.front()).c_str());
    }
  });
}

void add_image_gc(CLI::App& image, const GlobalOptions& g) {
  CLI::App* c = image.add_subcommand(
      "gc",
      "Remove the layers and blobs no image uses (never those of a pod being prepared or running) and what "
      "interrupted imports and pulls left");
  c->callback([&g] {
    require_root("crt image gc");
    store::Store s(g.dir);
    store::GcResult r = s.gc([&] { return runtime::layers_in_use(g.dir); });
    std::printf("removed %zu layer%s, %zu blob%s and %zu unfinished download%s: %s freed\n", r.trees,
                r.trees == 1 ? "" : "s", r.blobs, r.blobs == 1 ? "" : "s", r.tmp, r.tmp == 1 ? "" : "s",
                human_bytes(r.bytes).c_str());
  });
}

}  // namespace crt::cli
