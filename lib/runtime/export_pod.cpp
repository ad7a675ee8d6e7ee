#include "runtime/export_pod.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "mount/app_plan.hpp"
#include "runtime/app_process.hpp"
#include "runtime/host.hpp"
#include "runtime/pods.hpp"
#include "runtime/signals.hpp"
#include "store/export.hpp"
#include "store/image.hpp"
#include "store/layer_view.hpp"
#include "store/store.hpp"
#include "store/whiteout.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

namespace {

/// A file's xattrs but overlayfs's own, by name; nothing when they
/// cannot be read.
std::optional<std::map<std::string, std::string>> xattrs_of(const stdfs::path& path) {
  ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
  if (n < 0) return std::nullopt;
  std::string names(static_cast<size_t>(n), '\0');
  n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return std::nullopt;
  names.resize(static_cast<size_t>(n));
  std::map<std::string, std::string> out;
  for (size_t at = 0; at < names.size(); at = names.find('\0', at) + 1) {
    std::string name = names.c_str() + at;
    if (name.empty() || store::is_overlay_xattr(name)) continue;
    ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) return std::nullopt;
    std::string value(static_cast<size_t>(size), '\0');
    size = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (size < 0) return std::nullopt;
    value.resize(static_cast<size_t>(size));
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

/// For a directory `rel` of the upper directory `upper`: nothing when the
/// image has no `rel` (crt made it); else whether it is as in the image's
/// topmost layer that has it (overlayfs copied it up, the app changed
/// nothing of it): the same mode, owner and xattrs (ACLs among them), and
/// not made anew (opaque).
std::optional<bool> unchanged_from_image(const stdfs::path& upper, const stdfs::path& rel, const pod::AppManifest& app,
                                         const store::Store& store) {
  // Layers go lowest first.
  std::vector<stdfs::path> trees = store.tree_paths(app.image.layers);
  for (auto tree = trees.rbegin(); tree != trees.rend(); ++tree) {
    stdfs::path in_layer = *tree / rel;
    struct stat im {};
    if (::lstat(in_layer.c_str(), &im) != 0) continue;
    stdfs::path upper_dir = upper / rel;
    struct stat up {};
    if (::lstat(upper_dir.c_str(), &up) != 0) return false;
    if (store::is_overlay_opaque(upper_dir)) return false;
    if (!S_ISDIR(im.st_mode) || im.st_mode != up.st_mode || im.st_uid != up.st_uid || im.st_gid != up.st_gid)
      return false;
    auto a = xattrs_of(upper_dir);
    auto b = xattrs_of(in_layer);
    return a && b && *a == *b;
  }
  return std::nullopt;
}

/// The skeleton of a root file system the pod's systemd gives each app's
/// root (base_filesystem_create()) where the image lacks it: directories
/// (with the modes of systemd 252 and later) and links into /usr.
struct SkeletonEntry {
  const char* name;
  std::vector<mode_t> modes;            // a directory's
  std::vector<std::string_view> links;  // or a symlink to one of these
};
const std::vector<SkeletonEntry>& skeleton() {
  static const std::vector<SkeletonEntry> entries = {
      {"bin", {}, {"usr/bin"}},   {"lib", {}, {"usr/lib"}},
      {"sbin", {}, {"usr/sbin"}}, {"lib64", {}, {"usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib"}},
      {"root", {0750, 0755}, {}}, {"usr", {0755}, {}},
      {"var", {0755}, {}},        {"etc", {0755}, {}},
      {"proc", {0555, 0755}, {}}, {"sys", {0555, 0755}, {}},
      {"dev", {0555, 0755}, {}},  {"run", {0555, 0755}, {}},
  };
  return entries;
}

/// What crt itself made in the app's upper directory: the mount points of
/// its mounts (and the directories made for them) that the image lacks.
/// They are part of running in a pod, not of the app's changes.
std::set<std::string> crt_made(const stdfs::path& upper, const pod::AppManifest& app, const store::Store& store) {
  // The image's layers, the topmost first.
  std::vector<stdfs::path> image = store.tree_paths(app.image.layers);
  std::reverse(image.begin(), image.end());
  // Where prepare-app put them: their paths resolved in the image, as the
  // rootfs was when the pod started (an image's /etc/resolv.conf may link
  // to ../run/systemd/resolve/stub-resolv.conf, its /etc to usr/etc), not
  // as the app may have left it. A symlink or a device node crt makes is
  // itself the mount point.
  auto where = [&](const std::string& target, bool follow_last) {
    if (follow_last) return store::resolve_in_union(image, target);
    stdfs::path p = stdfs::path(target).lexically_normal();
    std::string parent = store::resolve_in_union(image, p.parent_path().string());
    return (stdfs::path(parent) / p.filename()).string();
  };
  std::vector<std::string> targets;
  // What is below crt's own file systems (/dev, /proc, /sys) never reached
  // the upper directory; the image's links there were hidden.
  std::vector<stdfs::path> mounted;
  auto below_mounted = [&](const std::string& target) {
    stdfs::path t = stdfs::path(target).lexically_normal();
    return std::any_of(mounted.begin(), mounted.end(), [&](const stdfs::path& m) {
      auto [end, rest] = std::mismatch(m.begin(), m.end(), t.begin(), t.end());
      return end == m.end() && rest != t.end();
    });
  };
  using Kind = mount::MountOp::Kind;
  for (const auto& op : mount::app_mount_plan()) {
    if (below_mounted(op.target)) continue;
    targets.push_back(where(op.target, op.kind != Kind::kSymlink && op.kind != Kind::kDevice));
    if (op.kind == Kind::kTmpfs || op.kind == Kind::kSysfs || op.kind == Kind::kRecursiveBind)
      mounted.emplace_back(stdfs::path(op.target).lexically_normal());
  }
  for (const auto& m : app.mounts) targets.push_back(where(m.target, true));
  // The pod's systemd makes this in every service's root, for "systemctl bind".
  targets.push_back(where("/run/systemd/incoming", true));
  auto in_image = [&](const std::string& rel) { return store::exists_in_union(image, rel); };
  std::set<std::string> out;
  std::set<stdfs::path> parents;
  std::error_code ec;
  for (std::string t : targets) {
    t = stdfs::path(t).lexically_normal().relative_path().string();
    if (t.empty() || !stdfs::exists(stdfs::symlink_status(upper / t, ec)) || in_image(t)) continue;
    out.insert(t);
    for (stdfs::path dir = stdfs::path(t).parent_path(); !dir.empty(); dir = dir.parent_path()) parents.insert(dir);
  }
  // systemd's skeleton is not the app's either, as systemd made it.
  for (const auto& entry : skeleton()) {
    struct stat st {};
    if (in_image(entry.name) || ::lstat((upper / entry.name).c_str(), &st) != 0 || st.st_uid != 0 || st.st_gid != 0)
      continue;
    if (entry.links.empty()) {
      if (S_ISDIR(st.st_mode)) parents.insert(entry.name);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target = stdfs::read_symlink(upper / entry.name, ec).string();
      if (!ec && std::find(entry.links.begin(), entry.links.end(), target) != entry.links.end()) out.insert(entry.name);
    }
  }
  // Directories that hold only crt's mount points go too, deepest first:
  // those crt made, and those of the image that overlayfs copied up to make
  // them, unless the app changed one itself.
  std::vector<stdfs::path> dirs(parents.begin(), parents.end());
  std::sort(dirs.begin(), dirs.end(), [](const stdfs::path& a, const stdfs::path& b) {
    return std::distance(a.begin(), a.end()) > std::distance(b.begin(), b.end());
  });
  // One the image lacks is as crt made it (0755, or a mode systemd gives a
  // directory of the skeleton), owned by root, without xattrs but the
  // security module's label: else the app changed it.
  auto as_made = [&](const stdfs::path& dir) {
    struct stat st {};
    if (::lstat((upper / dir).c_str(), &st) != 0 || st.st_uid != 0 || st.st_gid != 0) return false;
    mode_t mode = st.st_mode & 07777;
    bool skeleton_mode = std::any_of(skeleton().begin(), skeleton().end(), [&](const SkeletonEntry& e) {
      return dir == e.name && std::find(e.modes.begin(), e.modes.end(), mode) != e.modes.end();
    });
    auto xattrs = xattrs_of(upper / dir);
    return (mode == 0755 || skeleton_mode) && xattrs && std::all_of(xattrs->begin(), xattrs->end(), [](const auto& x) {
             return x.first.rfind("security.", 0) == 0;
           });
  };
  for (const auto& dir : dirs) {
    if (!stdfs::is_directory(stdfs::symlink_status(upper / dir, ec))) continue;
    std::optional<bool> same = unchanged_from_image(upper, dir, app, store);
    if ((same && !*same) || (!same && !as_made(dir))) continue;
    bool only_ours = true;
    for (const auto& de : stdfs::directory_iterator(upper / dir, ec))
      only_ours = only_ours && out.count((dir / de.path().filename()).string()) != 0;
    if (only_ours) out.insert(dir.string());
  }
  return out;
}

}  // namespace

std::string export_pod(const stdfs::path& state_dir, const ExportRequest& req, const MessageSink& messages) {
  // Written as given: an image's name ("name:tag", which crt image import
  // reads back as the image's) or a tag alone (as skopeo's
  // oci-archive:FILE:TAG names it).
  if (!req.ref_name.empty())
    with_context("--name", [&] {
      bool tag_alone = req.ref_name.find_first_of(":/") == std::string::npos &&
                       store::try_parse_reference("tag:" + req.ref_name).has_value();
      if (!tag_alone) store::parse_reference(req.ref_name);
    });
  PodEntry e = find_pod(state_dir, req.pod);
  return with_context("exporting pod " + e.uuid, [&] {
    FileLock pod_lock;
    for (int attempt = 1;; ++attempt) {
      PodStatus st = e.status();
      if (st == PodStatus::kRunning)
        throw Error("it is running; crt export takes an exited pod (stop it first: crt stop " + e.uuid + ")");
      if (st != PodStatus::kExited && st != PodStatus::kExitedGarbage)
        throw Error(std::string("it is ") + status_name(st) + "; crt export takes a pod that ran and exited");
      // Shared: crt status still shows it exited, but crt rm and gc, which
      // lock it exclusively, leave it alone until the archive is written.
      int fd = ::open(e.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 && errno != ENOENT) throw_errno("opening " + quote(e.path.string()));
      if (fd >= 0) {
        pod_lock = FileLock::try_acquire(UniqueFd(fd), FileLock::Mode::kShared);
        if (!pod_lock.valid()) throw Error("it is being removed");
        // Still where it was found: held there now.
        if (pod_lock.still_at(e.path)) break;
        pod_lock = FileLock();
      }
      // crt gc moved it (to exited-garbage) or removed it meanwhile.
      if (attempt == 3) throw Error("it was moved or removed while crt export looked for it");
      e = find_pod(state_dir, req.pod);
    }
    pod::PodManifest m = pod::parse_manifest(fs::read_file(e.path / "pod.json"));
    const pod::AppManifest& app = pick_app(m, req.app);
    if (!m.unsynced_boot.empty() && m.unsynced_boot != boot_id())
      tell(messages, "warning: pod " + m.uuid +
                         " ran before the host last started, on overlays that do not sync: unless the host shut "
                         "down cleanly, files its apps wrote may be incomplete");
    stdfs::path upper = e.path / "overlay" / "apps" / app.name / "upper";
    std::error_code ec;
    if (!stdfs::is_directory(upper, ec)) throw Error("app " + quote(app.name) + " has no rootfs changes directory");
    store::Replace replace = req.overwrite ? store::Replace::kYes : store::Replace::kNo;
    store::check_archive_target(req.out, replace);

    store::Store store(state_dir);
    FileLock store_lock = store.lock_shared();
    std::optional<store::Image> im = store.find(app.image.id);
    if (!im || im->layers != app.image.layers)
      throw Error("the image of app " + quote(app.name) + " (" + app.image.name + ", " + app.image.id +
                  ") is no longer in the store (removed by 'crt image rm --force' while pods used it), and the "
                  "export is that image with the app's changes on top: pulling it again brings it back (an image "
                  "imported again from a directory or archive gets another ID)");
    // Ctrl-C or a SIGTERM ends the export at its next write, and it
    // removes what it wrote.
    SignalBlock signals;
    store::export_oci_archive(store, *im, req.out, req.ref_name,
                              store::AddedLayer{upper, "crt export --app=" + app.name + " " + e.uuid,
                                                crt_made(upper, app, store), req.created},
                              check_interrupted, replace, req.mode);
    return app.name;
  });
}

}  // namespace crt::runtime
