// crt image rm, crt image prune and crt image gc.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cmd_image.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "common/lock.hpp"
#include "common/strings.hpp"
#include "registry_args.hpp"
#include "runtime/images.hpp"
#include "runtime/pods.hpp"
#include "store/progress.hpp"
#include "store/store.hpp"

namespace crt::cli {

namespace {

struct RmArgs {
  std::vector<std::string> refs;
  bool force = false;
};

/// Why image `ref` stays: the pods that use it, and what to do about them.
std::string used_by(const std::string& ref, std::vector<runtime::PodEntry> pods) {
  // Many pods are counted, and a few of them named, running ones first: a
  // line of them all would run on and on.
  constexpr size_t kNamed = 5;
  std::stable_partition(pods.begin(), pods.end(),
                        [](const runtime::PodEntry& p) { return p.status() == runtime::PodStatus::kRunning; });
  std::string list;
  std::string uuids;
  size_t running = 0;
  for (const auto& p : pods) running += p.status() == runtime::PodStatus::kRunning;
  for (size_t i = 0; i < pods.size() && i < kNamed; ++i) {
    list += (list.empty() ? "" : ", ") + pods[i].uuid + " (" + runtime::status_name(pods[i].status()) + ")";
    uuids += " " + pods[i].uuid;
  }
  bool one = pods.size() == 1;
  std::string stop = running == 0 ? "" : one ? "stop it, then " : "stop those running, then ";
  if (pods.size() > kNamed)
    return "image " + quote(ref) + " is used by " + std::to_string(pods.size()) + " pods, " + std::to_string(running) +
           " of them running (" + list + " and " + std::to_string(pods.size() - kNamed) +
           " more: 'crt list' shows them); " + stop + "remove them with 'crt rm' (or use --force)";
  return "image " + quote(ref) + " is used by pod" + (one ? " " : "s ") + list + "; " + stop + "remove " +
         (one ? "it" : "them") + " with 'crt rm" + uuids + "' (or use --force)";
}

/// The layers pods use, for the store to keep; `unreadable` gets the pods
/// that may use any, to warn of.
store::PinnedLayers pinned_by_pods(const GlobalOptions& g, std::vector<runtime::UnreadablePod>& unreadable) {
  return [&g, &unreadable] {
    runtime::PodPins pins = runtime::layers_in_use(g.dir);
    unreadable = std::move(pins.unreadable);
    return store::Pins{std::move(pins.layers), !unreadable.empty()};
  };
}

/// Warns of pods whose use of the store cannot be told (but once each), and
/// of the `kept` layers (`which`: "no image uses") that stay for them.
void warn_unreadable(const std::vector<runtime::UnreadablePod>& pods, size_t kept, const std::string& which,
                     std::set<std::string>& warned) {
  for (const auto& p : pods)
    if (warned.insert(p.pod.uuid).second) print_message("warning: " + p.message());
  if (kept == 0) return;
  bool one = pods.size() == 1;
  const char* it = kept == 1 ? "it" : "them";
  // Pods still being prepared are not for the user to repair or remove:
  // their crt settles them (see UnreadablePod::message()).
  bool preparing = std::all_of(pods.begin(), pods.end(),
                               [](const auto& p) { return p.pod.status() == runtime::PodStatus::kPreparing; });
  std::string once =
      preparing ? (one ? "once the command preparing it has ended" : "once the commands preparing them have ended")
                : std::string("once ") + (one ? "it is" : "they are") + " repaired or removed";
  print_message("warning: kept " + std::to_string(kept) + (kept == 1 ? " layer " : " layers ") + which + ", as " +
                (one ? "that pod" : "those pods") + " may use " + it + "; " + once + ", 'crt image gc' removes " + it);
}

/// Removes the image `id` (and its layers and blobs nothing else uses)
/// unless a pod uses it, or may (its pod.json cannot be read), or `keep`
/// says it stays: both asked under the store's lock, where nothing changes
/// meanwhile. Nothing when it stays.
std::optional<store::Removal> remove_unused(store::Store& s, const GlobalOptions& g, const std::string& id,
                                            std::vector<runtime::UnreadablePod>& unreadable,
                                            const std::function<bool(const store::Image&)>& keep = {}) {
  bool kept = false;
  try {
    return s.remove(id, pinned_by_pods(g, unreadable), [&](const store::Image& whole) {
      try {
        kept = (keep && keep(whole)) || !runtime::pods_using_image(g.dir, whole.id).empty();
      } catch (const runtime::UnreadablePodError&) {
        kept = true;
      }
      if (kept) throw Error("kept");
    });
  } catch (const Error&) {
    if (kept) return std::nullopt;
    throw;
  }
}

}  // namespace

void add_image_rm(CLI::App& image, const GlobalOptions& g, int& exit_status) {
  auto a = std::make_shared<RmArgs>();
  CLI::App* c = image.add_subcommand(
      "rm",
      "Remove images from the store, and the layers no other image uses; one that cannot be removed (not found, in "
      "use) is said on a line of its own, the others are still removed, and the exit status is then 254");
  c->add_option("IMAGE", a->refs, "Image name[:tag], name@digest, id or id prefix")->required();
  c->add_flag("-f,--force", a->force,
              "Remove an image even if pods use it, exited ones included, or may use it (their pod.json cannot be "
              "read); its layers stay until those pods are removed (or repaired) and 'crt image gc' runs");
  c->callback([a, &g, &exit_status] {
    require_root("crt image rm");
    store::Store s(g.dir);
    s.set_lock_wait(store_lock_wait(false));
    std::set<std::string> warned;
    for_each_image(a->refs, exit_status, [&](const std::string& r) {
      // As written (an import's "docker.io/x:1"), else as a pull names it;
      // looked up under the store's lock, as another crt image rm may be
      // removing it. Its configuration is not read: a damaged one must not
      // keep it from being removed.
      std::string key;
      bool other_names = false;
      {
        FileLock lock = s.lock_shared();
        key = runtime::stored_key(s, r);
        other_names = s.removes_only_a_name(key);
      }
      // A name of several only goes: the image stays for the pods using it.
      // The whole image is refused while pods use it, checked under the
      // store's lock. (A pod being prepared holds that lock shared until its
      // overlays are mounted, and then pins its images by its manifest.)
      auto unless_used = [&](const store::Image& whole) {
        if (a->force) return;
        std::vector<runtime::PodEntry> users;
        try {
          users = runtime::pods_using_image(g.dir, whole.id);
        } catch (const runtime::UnreadablePodError& e) {
          throw Error(std::string(e.what()) + " (or use --force)");  // a pod that may use it
        }
        if (!users.empty()) throw Error(used_by(r, users));
      };
      std::vector<runtime::UnreadablePod> unreadable;
      store::Removal removal = s.remove(key, pinned_by_pods(g, unreadable), unless_used);
      warn_unreadable(unreadable, removal.trees_kept, "of image " + quote(r) + " that no other image uses", warned);
      const store::Image& im = removal.image;
      // Every name that went: by its id, an image goes with all of them.
      std::string names;
      for (const auto& n : im.names) names += (names.empty() ? "" : ", ") + n;
      if (names.empty())
        std::printf("removed %s\n", im.id.c_str());
      else if (im.names.size() == 1 && other_names)
        std::printf("removed the name %s (the image keeps its other names)\n", names.c_str());
      else
        std::printf("removed %s\n", names.c_str());
      for (const auto& n : im.names)
        if (runtime::is_builtin_image(n, data_dir()))
          std::printf("(%s is built in: its next use, or crt image list, imports it again)\n", n.c_str());
      for (const auto& why : removal.trees_failed) print_message("warning: " + why + "; 'crt image gc' tries again");
    });
  });
}

void add_image_gc(CLI::App& image, const GlobalOptions& g, int& exit_status) {
  CLI::App* c = image.add_subcommand(
      "gc",
      "Remove the layers and blobs no image uses (never the layers of a pod until it is removed: prepared, "
      "running or exited; none while a pod's pod.json cannot be read), the stage1 images of other crt builds "
      "that no pod uses, and what interrupted imports, pulls, exports and removals left; images without a name "
      "stay ('crt image prune' removes them)");
  c->callback([&g, &exit_status] {
    require_root("crt image gc");
    store::Store s(g.dir);
    s.set_lock_wait(store_lock_wait(false));
    std::vector<runtime::UnreadablePod> unreadable;
    std::set<std::string> warned;
    // Stage1 images of other crt builds, which no pod uses (checked under
    // the store's lock, as image rm checks): crt stores its own on first use.
    for (const auto& id : runtime::other_stage1_images(s, data_dir())) {
      try {
        std::optional<store::Removal> removal = remove_unused(s, g, id, unreadable);
        if (!removal) continue;
        std::printf("removed %s, the stage1 of another crt build\n", join(removal->image.names, ", ").c_str());
        warn_unreadable(unreadable, removal->trees_kept, "of that stage1", warned);
        for (const auto& why : removal->trees_failed) print_message("warning: " + why + "; 'crt image gc' tries again");
      } catch (const Error& e) {
        print_message("warning: removing the stage1 image " + id + " of another crt build: " + e.what());
      }
    }
    store::GcResult r = s.gc(pinned_by_pods(g, unreadable));
    warn_unreadable(unreadable, r.trees_kept, "no image uses", warned);
    std::printf("removed %zu layer%s, %zu blob%s and %zu leftover%s of interrupted work: %s freed\n", r.trees,
                r.trees == 1 ? "" : "s", r.blobs, r.blobs == 1 ? "" : "s", r.tmp, r.tmp == 1 ? "" : "s",
                store::human_bytes(r.bytes).c_str());
    std::fflush(stdout);
    for (const auto& why : r.failed) print_message(why + " (will try again at the next 'crt image gc')");
    if (!r.failed.empty()) exit_status = kErrorExitCode;
  });
}

void add_image_prune(CLI::App& image, const GlobalOptions& g, int& exit_status) {
  CLI::App* c = image.add_subcommand(
      "prune",
      "Remove the images without a name ('<none>' in 'crt image list': an import of their name replaced "
      "them) that no pod uses (prepared, running or exited: until 'crt rm'; nor one whose pod.json cannot be "
      "read), and the layers and blobs only they used; unlike 'crt image gc', which removes only what no image "
      "uses. An image a registry gave keeps its NAME@DIGEST (pulled by digest, or its tag pulled anew): "
      "'crt image rm' removes it");
  c->callback([&g, &exit_status] {
    require_root("crt image prune");
    store::Store s(g.dir);
    s.set_lock_wait(store_lock_wait(false));
    std::vector<std::string> unnamed;
    {
      FileLock lock = s.lock_shared();
      // Not one pulled by digest, which has no other name: a pod file
      // may name it so, on a host that cannot pull it again.
      for (const auto& im : s.list())
        if (im.names.empty() && im.repo_digests.empty()) unnamed.push_back(im.id);
    }
    std::vector<runtime::UnreadablePod> unreadable;
    std::set<std::string> warned;
    size_t removed = 0;
    size_t used = 0;
    uint64_t bytes = 0;
    for_each_image(unnamed, exit_status, [&](const std::string& id) {
      // A name it took meanwhile (the same image imported again) keeps it.
      bool named = false;
      auto keep = [&named](const store::Image& whole) { return named = !whole.names.empty(); };
      std::optional<store::Removal> removal;
      try {
        removal = remove_unused(s, g, id, unreadable, keep);
      } catch (const Error&) {
        // Another crt image prune (or rm) removed it since it was listed:
        // done, not a failure of this one's.
        if (!s.has_image(id)) return;
        throw;
      }
      if (!removal) {
        used += !named;
        return;
      }
      std::printf("removed %s\n", id.c_str());
      ++removed;
      bytes += removal->bytes;
      warn_unreadable(unreadable, removal->trees_kept, "of image " + id + " that no other image uses", warned);
      for (const auto& why : removal->trees_failed) print_message("warning: " + why + "; 'crt image gc' tries again");
    });
    std::string stay = used == 0 ? ""
                                 : "; " + std::to_string(used) +
                                       (used == 1 ? " stays, which pods use" : " stay, which pods use") +
                                       " or may use ('crt image rm ID' says which)";
    std::printf("removed %zu image%s without a name: %s freed%s\n", removed, removed == 1 ? "" : "s",
                store::human_bytes(bytes).c_str(), stay.c_str());
  });
}

}  // namespace crt::cli
