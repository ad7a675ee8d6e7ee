// crt image: the verbs that manage the image store; each lives in its own
// cmd_image_*.cpp.

#include "cmd_image.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "common/error.hpp"
#include "common/json_text.hpp"
#include "common/lock.hpp"
#include "common/stop_signal.hpp"
#include "common/strings.hpp"
#include "registry_args.hpp"
#include "runtime/images.hpp"
#include "runtime/signals.hpp"
#include "store/progress.hpp"
#include "store/store.hpp"

namespace crt::cli {

namespace {

void add_image_list(CLI::App& image, const GlobalOptions& g) {
  auto format = std::make_shared<std::string>("table");
  CLI::App* c = image.add_subcommand("list", "List the images in the store");
  c->alias("ls");
  add_format_option(c, *format, "table");
  c->callback([format, &g] {
    require_root("crt image list");  // the store is root's alone
    store::Store s(g.dir);
    // The built-in images are listed as soon as crt run would find them.
    s.set_lock_wait(store_lock_wait(false));
    s.set_messages(print_message);
    for (const auto& e : runtime::import_missing_builtins(s, data_dir())) print_message(e);
    // Under the store's lock, as pods and exports read it: an image another
    // crt removes meanwhile is listed whole or not at all.
    std::vector<store::Image> images;
    {
      FileLock lock = s.lock_shared();
      images = s.list();
    }
    if (*format == "json") {
      // One object per row of the table: per name:tag, or one untagged.
      nlohmann::json out = nlohmann::json::array();
      for (const auto& im : images) {
        auto row = [&](const nlohmann::json& name, const nlohmann::json& tag) {
          out.push_back({{"name", name},
                         {"tag", tag},
                         {"id", im.id},
                         {"size", im.size},
                         {"created", im.created},
                         {"layers", im.layers},
                         {"repo_digests", im.repo_digests}});
        };
        if (im.names.empty()) row(nullptr, nullptr);
        for (const auto& n : im.names) {
          size_t colon = n.rfind(':');
          row(n.substr(0, colon), n.substr(colon + 1));
        }
      }
      std::printf("%s\n", json_text::dump(out, 2).c_str());
      return;
    }
    std::vector<std::vector<std::string>> table = {{"NAME", "TAG", "ID", "SIZE", "CREATED"}};
    for (const auto& im : images) {
      std::vector<std::string> names = im.names.empty() ? std::vector<std::string>{"<none>:<none>"} : im.names;
      for (const auto& n : names) {
        size_t colon = n.rfind(':');
        table.push_back(
            {n.substr(0, colon), n.substr(colon + 1), im.id.substr(7, 12), store::human_bytes(im.size), im.created});
      }
    }
    std::fputs(format_table(table, {false, false, false, true}).c_str(), stdout);
  });
}

}  // namespace

void for_each_image(const std::vector<std::string>& refs, int& exit_status,
                    const std::function<void(const std::string&)>& action) {
  for (const auto& ref : refs) {
    try {
      action(ref);
    } catch (const runtime::Interrupted&) {
      throw;
    } catch (const Error& e) {
      if (pending_stop_signal() != 0) throw;  // an error the stop caused: crt ends by it
      print_error(e.what());
      exit_status = kErrorExitCode;
    }
  }
}

void add_image_command(CLI::App& app, const GlobalOptions& g, int& exit_status) {
  CLI::App* image = app.add_subcommand("image", "Manage images");
  image->require_subcommand(1);
  add_image_import(*image, g);
  add_image_pull(*image, g);
  add_image_list(*image, g);
  add_image_inspect(*image, g, exit_status);
  add_image_rm(*image, g, exit_status);
  add_image_prune(*image, g, exit_status);
  add_image_gc(*image, g, exit_status);
  add_image_export(*image, g);
}

}  // namespace crt::cli
