// crt image inspect: what an image is and how it runs.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cmd_image.hpp"
#include "common/error.hpp"
#include "common/json_text.hpp"
#include "registry_args.hpp"
#include "runtime/images.hpp"
#include "store/store.hpp"

namespace crt::cli {

namespace {

using nlohmann::json;

json describe(const store::Store& s, const store::Image& im) {
  json config = json_text::parse(s.config_blob(im));
  const store::RunConfig& c = im.config;
  json j = {{"id", im.id},
            {"names", im.names},
            {"repo_digests", im.repo_digests},
            {"digest", im.manifest},
            {"created", im.created},
            {"os", config.value("os", "")},
            {"architecture", config.value("architecture", "")},
            {"size", im.size},
            {"layers", im.layers},
            {"config",
             {{"entrypoint", c.entrypoint},
              {"cmd", c.cmd},
              {"env", c.env},
              {"user", c.user},
              {"working_dir", c.working_dir},
              {"exposed_ports", c.exposed_ports},
              {"volumes", c.volumes},
              {"labels", c.labels},
              {"stop_signal", c.stop_signal}}}};
  if (config.contains("variant")) j["variant"] = config["variant"];
  json blobs = json::array();
  for (const auto& b : im.blobs) blobs.push_back({{"digest", b.digest}, {"media_type", b.media_type}, {"size", b.size}});
  j["blobs"] = blobs;
  // The manifest each name and repo digest gives, read by the image's ID:
  // the image as first added, whose manifest the others' defaults are.
  json manifests = json::object();
  if (std::optional<store::Image> first = s.find(im.id)) {
    for (const auto& refs : {im.names, im.repo_digests})
      for (const auto& ref : refs)
        if (std::string m = first->manifest_of(ref); !m.empty()) manifests[ref] = m;
  }
  j["manifests"] = manifests;
  return j;
}

}  // namespace

void add_image_inspect(CLI::App& image, const GlobalOptions& g, int& exit_status) {
  auto refs = std::make_shared<std::vector<std::string>>();
  CLI::App* c = image.add_subcommand(
      "inspect",
      "Show images as a JSON array, one object each: id, names, digests (and the manifest each name gives), "
      "platform, layers, and how they run (entrypoint, cmd, env, user, working dir, exposed ports, volumes, labels, "
      "stop signal). An image not found is said on a line of its own on standard error, the array holds the others, "
      "and the exit status is then 254");
  c->add_option("IMAGE", *refs, "Image name[:tag], name@digest, id or id prefix")->required();
  c->callback([refs, &g, &exit_status] {
    require_root("crt image inspect");  // the store is root's alone
    store::Store s(g.dir);
    s.set_lock_wait(store_lock_wait(false));
    s.set_messages(print_message);
    json out = json::array();
    for_each_image(*refs, exit_status, [&](const std::string& r) {
      // Read under the store's lock, as pods and exports read it.
      runtime::LockedImage im = runtime::find_image_locked(s, r, data_dir());
      out.push_back(describe(s, im.image));
    });
    // None found: nothing to show, the errors say why.
    if (!out.empty()) std::printf("%s\n", json_text::dump(out, 2).c_str());
  });
}

}  // namespace crt::cli
