// crt image: import, list and remove images.

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "common/error.hpp"
#include "runtime/images.hpp"
#include "runtime/pods.hpp"
#include "store/store.hpp"

namespace crt::cli {

namespace {

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
  return buf;
}

struct ImportArgs {
  std::string path;
  std::string name;
  std::vector<std::string> cmd;
  std::vector<std::string> entrypoint;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::vector<std::string> volumes;
};

void add_import(CLI::App& image, const GlobalOptions& g) {
  auto a = std::make_shared<ImportArgs>();
  CLI::App* c = image.add_subcommand("import", "Import a rootfs directory or tarball as an image");
  c->add_option("PATH", a->path, "A rootfs directory, or a tar archive of one (plain, gzip, zstd, xz)")->required();
  c->add_option("NAME", a->name, "The image's name[:tag]")->required();
  c->add_option("--cmd", a->cmd, "Default command, one argument per --cmd")->allow_extra_args(false);
  c->add_option("--entrypoint", a->entrypoint, "Entrypoint, one argument per --entrypoint")->allow_extra_args(false);
  c->add_option("--env", a->env, "Environment variable K=V")->allow_extra_args(false);
  c->add_option("--workdir", a->workdir, "Working directory");
  c->add_option("--user", a->user, "User (and group) to run as: USER[:GROUP]");
  c->add_option("--volume", a->volumes, "A path the image declares as a volume")->allow_extra_args(false);
  c->callback([a, &g] {
    require_root("crt image import");
    store::Reference ref = store::parse_reference(a->name);
    store::Store s(g.dir);
    store::Store::ImportOptions opts;
    opts.config.cmd = a->cmd;
    opts.config.entrypoint = a->entrypoint;
    opts.config.env = a->env;
    opts.config.working_dir = a->workdir;
    opts.config.user = a->user;
    opts.config.volumes = a->volumes;
    store::Image im = s.import_rootfs(a->path, ref, opts);
    std::printf("%s\n", im.id.c_str());
  });
}

void add_list(CLI::App& image, const GlobalOptions& g) {
  auto format = std::make_shared<std::string>("table");
  CLI::App* c = image.add_subcommand("list", "List the images in the store");
  c->alias("ls");
  c->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  c->callback([format, &g] {
    store::Store s(g.dir);
    std::vector<store::Image> images = s.list();
    if (*format == "json") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& im : images) {
        nlohmann::json j = im;
        out.push_back(j);
      }
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    std::printf("%-32s %-16s %-14s %10s  %s\n", "NAME", "TAG", "ID", "SIZE", "CREATED");
    for (const auto& im : images) {
      std::vector<std::string> names = im.names.empty() ? std::vector<std::string>{"<none>:<none>"} : im.names;
      for (const auto& n : names) {
        size_t colon = n.rfind(':');
        std::printf("%-32s %-16s %-14s %10s  %s\n", n.substr(0, colon).c_str(), n.substr(colon + 1).c_str(),
                    im.id.substr(7, 12).c_str(), human_size(im.size).c_str(), im.created.c_str());
      }
    }
  });
}

void add_rm(CLI::App& image, const GlobalOptions& g) {
  auto refs = std::make_shared<std::vector<std::string>>();
  CLI::App* c = image.add_subcommand("rm", "Remove images from the store");
  c->add_option("IMAGE", *refs, "Image name[:tag], id or id prefix")->required();
  c->callback([refs, &g] {
    require_root("crt image rm");
    store::Store s(g.dir);
    for (const auto& r : *refs) {
      // A pod being prepared takes the store's lock shared until its overlays
      // are mounted, and then pins its images by its manifest.
      if (auto im = s.find(r)) {
        auto users = runtime::pods_using_image(g.dir, im->id);
        if (!users.empty())
          throw Error("image " + quote(r) + " is used by pod " + users.front() + "; stop the pod first");
      }
      store::Image im = s.remove(r);
      std::printf("removed %s\n", (im.names.empty() ? im.id : im.names.front()).c_str());
    }
  });
}

}  // namespace

void add_image_command(CLI::App& app, const GlobalOptions& g, int&) {
  CLI::App* image = app.add_subcommand("image", "Manage images");
  image->require_subcommand(1);
  add_import(*image, g);
  add_list(*image, g);
  add_rm(*image, g);
}

}  // namespace crt::cli
