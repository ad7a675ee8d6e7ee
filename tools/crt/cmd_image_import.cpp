// crt image import: OCI layouts and archives, docker save archives, rootfs.

#include <cstdio>

#include "cmd_image.hpp"
#include "common/error.hpp"
#include "pod/app_config.hpp"
#include "progress_view.hpp"
#include "registry_args.hpp"
#include "runtime/images.hpp"
#include "runtime/pods.hpp"
#include "runtime/service_progress.hpp"
#include "runtime/signals.hpp"
#include "store/import.hpp"

namespace crt::cli {

namespace {

struct ImportArgs {
  std::string path;
  std::string name;
  std::string format;
  std::string platform;
  bool quiet = false;
  std::vector<std::string> cmd;
  std::vector<std::string> entrypoint;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::vector<std::string> volumes;
};

}  // namespace

void add_image_import(CLI::App& image, const GlobalOptions& g) {
  auto a = std::make_shared<ImportArgs>();
  CLI::App* c = image.add_subcommand(
      "import",
      "Import images: an OCI image layout (directory), an oci-archive or a docker-archive (`docker save`) tarball, "
      "or a rootfs directory or tarball ('-': an archive on standard input). Prints the id of each image imported.");
  c->add_option("PATH", a->path,
                "What to import; its format is recognized (see --format); '-' reads an archive from standard input")
      ->required();
  c->add_option("NAME", a->name,
                "The image's name[:tag]: required for a rootfs; for a layout or archive it replaces the names "
                "recorded there (and selects among several images by them)");
  c->add_option("--format", a->format, "oci, oci-archive, docker-archive or rootfs (default: recognized)")
      ->check(CLI::IsMember({"oci", "oci-archive", "docker-archive", "rootfs"}));
  c->add_option("--platform", a->platform,
                "OS/ARCH[/VARIANT] to take from a multi-platform layout (default: this machine's); given, it also "
                "refuses a single-platform image of another platform");
  c->add_flag("-q,--quiet", a->quiet, "Print only the image ids, no progress");
  c->add_option("--cmd", a->cmd, "rootfs: default command, one argument per --cmd")
      ->allow_extra_args(false)
      ->type_name(kArgumentWord);
  c->add_option("--entrypoint", a->entrypoint, "rootfs: entrypoint, one argument per --entrypoint")
      ->allow_extra_args(false)
      ->type_name(kArgumentWord);
  c->add_option("--env", a->env, "rootfs: environment variable K=V")->allow_extra_args(false);
  c->add_option("--workdir", a->workdir, "rootfs: working directory");
  c->add_option(
      "--user", a->user,
      "rootfs: user (and group) to run as: USER, UID, USER:GROUP or UID:GID (a name or a number either side)");
  c->add_option("--volume", a->volumes, "rootfs: an absolute path the image declares as a volume")
      ->allow_extra_args(false);
  c->callback([a, &g] {
    require_root("crt image import");
    store::ImportRequest req;
    req.source = a->path;
    if (!a->format.empty()) req.format = store::parse_format(a->format);
    // Named as a pull names it: "docker.io/x" is "docker.io/library/x:latest",
    // a registry's host is lowercased.
    if (!a->name.empty()) req.name = store::parse_reference(runtime::store_key(a->name));
    req.name_key = runtime::store_key;  // and so are the names an archive records
    if (!a->platform.empty()) req.platform = store::oci::parse_platform(a->platform);
    // As crt run would refuse them from the image, at each start.
    for (const auto& kv : a->env) pod::check_assignment(kv, "--env");
    if (!a->workdir.empty() && a->workdir.front() != '/')
      throw Error("--workdir " + quote(a->workdir) + ": the working directory must be an absolute path");
    // Else stored, and a run would take ":" for root, or skip the volume.
    if (!a->user.empty()) pod::check_image_user(a->user, "--user");
    for (const auto& v : a->volumes)
      if (v.empty() || v.front() != '/')
        throw Error("--volume " + quote(v) + ": the path of a volume must be an absolute path");
    req.rootfs.config.cmd = a->cmd;
    req.rootfs.config.entrypoint = a->entrypoint;
    req.rootfs.config.env = a->env;
    req.rootfs.config.working_dir = a->workdir;
    req.rootfs.config.user = a->user;
    req.rootfs.config.volumes = a->volumes;
    store::Store s(g.dir);
    ProgressView view(stderr, a->quiet);
    runtime::ServiceProgress progress(view, runtime::service_notifier());
    // Ctrl-C or a SIGTERM ends the import at its next entry or piece of
    // data. A layer half unpacked is removed; the layers of an archive or
    // layout it stored whole (trees and blobs) are taken out again, unless
    // another crt is using the store (the wait for it ends at once, as a
    // signal is pending): then they stay until the next import uses them
    // or crt image gc removes them. Other errors wait for that crt.
    runtime::SignalBlock signals;
    req.cancelled = interrupt_pending;
    req.pinned = runtime::pinned_layers(g.dir);
    s.set_lock_wait(store_lock_wait(a->quiet));
    s.set_messages(print_message);
    std::vector<store::Image> images;
    try {
      images = store::import_images(s, req, progress);
    } catch (const Error&) {
      runtime::check_interrupted();  // said as the signal that ended it
      throw;
    }
    for (const auto& im : images) std::printf("%s\n", im.id.c_str());
    view.summary("imported " + std::to_string(images.size()) + (images.size() == 1 ? " image" : " images"));
  });
}

}  // namespace crt::cli
