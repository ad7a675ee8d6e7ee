#include "runtime/prepare.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/state_dir.hpp"
#include "mount/app_plan.hpp"
#include "mount/in_root.hpp"
#include "mount/mounts.hpp"
#include "mount/overlay.hpp"
#include "mount/volume_mounts.hpp"
#include "net/config.hpp"
#include "net/state.hpp"
#include "pod/app_config.hpp"
#include "pod/exit_status.hpp"
#include "pod/manifest.hpp"
#include "pod/net_flags.hpp"
#include "pod/rootfs_lookup.hpp"
#include "pod/units.hpp"
#include "pod/volumes.hpp"
#include "runtime/images.hpp"
#include "runtime/pods.hpp"
#include "runtime/signals.hpp"

#ifndef CRT_VERSION
#define CRT_VERSION "unknown"
#endif

namespace crt::runtime {

namespace stdfs = std::filesystem;

namespace {

void check_pod_name(const std::string& name, const stdfs::path& state_dir) {
  if (name.empty()) return;
  pod::validate_pod_name(name);
  // A pod's name is its machine's: two pods with one machine name would
  // share its cgroup, and a stop of one would end both.
  for (const auto& p : list_pods(state_dir)) {
    PodStatus st = p.status();
    if (st != PodStatus::kPreparing && st != PodStatus::kPrepared && st != PodStatus::kRunning) continue;
    auto manifest = read_manifest(p.path);
    if (manifest && manifest->machine_name() == name)
      throw Error("pod name " + quote(name) + " is taken by pod " + p.uuid);
  }
}

/// A negative OOM score adjustment needs CAP_SYS_RESOURCE, which nspawn is
/// asked to give the pod's systemd; where crt itself lacks it (a container
/// host that dropped it), systemd would silently run the app without it.
void check_oom_score_adj(const std::vector<pod::AppManifest>& apps) {
  for (const auto& app : apps)
    if (app.oom_score_adj.value_or(0) < 0 && ::prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) != 1)
      throw Error("app " + quote(app.name) + ": --oom-score-adj=" + std::to_string(*app.oom_score_adj) +
                  " needs CAP_SYS_RESOURCE, which this machine does not give crt (its capability bounding set "
                  "lacks it); use a value of 0 or more");
}

pod::PodManifest plan_pod(const pod::RunRequest& req, store::Store& store, const RunContext& ctx) {
  pod::PodManifest m;
  m.uuid = new_uuid();
  m.created = now_rfc3339(true);
  m.crt_version = CRT_VERSION;
  if (req.pod.name) m.name = *req.pod.name;
  check_pod_name(m.name, ctx.state_dir);
  if (req.pod.hostname) pod::validate_host_name("host name", *req.pod.hostname);
  pod::validate_pod_env(req.pod);
  // Before any image is looked for, which may mean a pull.
  for (const auto& app : req.apps) pod::check_app_flags(app);
  for (const auto& spec : req.pod.volumes) (void)pod::parse_volume(spec);
  store::Image stage1 = ensure_stage1(store, ctx.data_dir, req.pod.stage1_path, ctx.messages);
  m.stage1 = {stage1.names.empty() ? "" : stage1.names.front(), stage1.id, stage1.layers};
  std::vector<std::string> exposed_ports;
  for (const auto& app : req.apps) {
    store::Image im = resolve_image(store, app.image, ctx.data_dir, ctx.resolve);
    m.apps.push_back(pod::make_app_manifest(app, req.pod, im));
    // As podman and docker say: run anyway (binfmt_misc may emulate it).
    if (auto platform = store::foreign_platform(im.config))
      tell(ctx.messages, "warning: image " + quote(app.image) + " is for " + *platform + ", this machine is linux/" +
                             store::host_architecture() + ": its programs may fail with \"exec format error\"");
    exposed_ports.insert(exposed_ports.end(), im.config.exposed_ports.begin(), im.config.exposed_ports.end());
  }
  pod::validate_apps(m.apps);
  check_oom_score_adj(m.apps);
  pod::plan_volumes(m, req.pod.volumes, ctx.messages);
  pod::apply_net_flags(m, req.pod, exposed_ports);
  m.hostname = req.pod.hostname ? *req.pod.hostname : m.machine_name();
  m.exit_policy = req.pod.exit_policy;
  return m;
}

/// The app's /proc, /sys and /dev must not be symbolic links. prepare-app
/// would mount them where the link leads, inside the rootfs, but the
/// sandbox's paths below them (InaccessiblePaths=/sys/firmware, …) are
/// resolved by the pod's systemd, outside: they would miss, and be
/// skipped.
void check_mount_points(int root, const std::string& image) {
  for (const char* dir : {"proc", "sys", "dev"}) {
    struct stat st {};
    if (::fstatat(root, dir, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      throw Error("/" + std::string(dir) + " in image " + quote(image) +
                  " is a symbolic link: crt mounts the app's own there, and its sandbox needs it to be a directory");
  }
  // The pod's systemd mounts its /run/systemd/incoming there at each start
  // of the app, following links from the rootfs's place in stage1: one
  // whose ".." climbs above the image's root leads it out of the rootfs,
  // and the app fails to start ("Failed at step NAMESPACE").
  if (auto link = mount::link_climbing_above_top(root, "/run/systemd/incoming"))
    throw Error(link->path + " in image " + quote(image) + " is a symbolic link to " + quote(link->target) +
                " which climbs above the image's root: the pod's systemd would follow it out of the app's rootfs "
                "(a link that stays inside the image works: an absolute path without '..', or a relative one)");
}

void resolve_apps(const PodDir& pod, pod::PodManifest& m, const pod::RunRequest& req) {
  for (size_t i = 0; i < m.apps.size(); ++i) {
    pod::AppManifest& app = m.apps[i];
    with_context("app " + quote(app.name), [&] {
      stdfs::path rootfs = pod.stage1_rootfs() / pod::app_rootfs_in_stage1(app.name).substr(1);
      UniqueFd root = fs::open_fd(rootfs, O_PATH | O_DIRECTORY);
      check_mount_points(root.get(), app.image.name);
      // In this order: an error names the file read first.
      std::string passwd = pod::read_in_root(root.get(), "/etc/passwd");
      std::string group = pod::read_in_root(root.get(), "/etc/group");
      pod::resolve_user(app, passwd, group);
      // The pod's mounts are gone by the time the user reads it.
      pod::resolve_exec(app, root.get(), "the rootfs of image " + quote(app.image.name));
      // Resolved in the image: systemd changes to WorkingDirectory= from the
      // pod's root for app-exited (ExecStopPost=+…, no RootDirectory=),
      // where a symlink on the way (/app -> /opt/app) would lead outside the
      // image and fail it, and the app's end would go unnoticed.
      // Named as the user gave it: a path of the image that is a file says
      // little by itself.
      std::string wd_given = req.apps.at(i).flags.working_dir
                                 ? "--working-dir " + quote(app.working_dir)
                                 : "the WorkingDir " + quote(app.working_dir) + " of image " + quote(app.image.name);
      UniqueFd wd = with_context(wd_given, [&] { return mount::make_dir_in_root(root.get(), app.working_dir); });
      app.working_dir = mount::place_in_tree(root.get(), wd.get());
    });
  }
}

}  // namespace

namespace {

UniqueFd app_root(const PodDir& pod, const std::string& app) {
  return fs::open_fd(pod.stage1_rootfs() / pod::app_rootfs_in_stage1(app).substr(1), O_PATH | O_DIRECTORY);
}

void mount_volumes(const PodDir& pod, const pod::PodManifest& m) {
  if (m.volumes.empty()) return;
  fs::make_dirs(pod.path() / "volumes", 0700);
  std::map<std::string, stdfs::path> sources;
  for (const auto& v : m.volumes) {
    with_context("volume " + quote(v.name), [&] {
      bool created = false;
      sources[v.name] = mount::volume_source(v, pod.path() / "volumes", created);
      if (created && !v.copy_from.empty())
        mount::copy_into_volume(app_root(pod, v.copy_app).get(), v.copy_from, sources[v.name]);
    });
  }
  for (const auto& app : m.apps) {
    UniqueFd root = app_root(pod, app.name);
    for (const auto& mt : app.mounts) {
      const pod::Volume& v = *std::find_if(m.volumes.begin(), m.volumes.end(),
                                           [&](const pod::Volume& x) { return x.name == mt.volume; });
      with_context("mounting volume " + quote(v.name) + " on " + quote(mt.target) + " in app " + quote(app.name),
                   [&] { mount::mount_volume(sources[v.name], root.get(), mt.target, v.read_only, v.recursive); });
    }
  }
}

}  // namespace

void mount_pod(const PodDir& pod, const pod::PodManifest& m, const store::Store& store, mount::UpperSync sync) {
  mount::mount_overlay(store.tree_paths(m.stage1.layers), pod.stage1_upper(), pod.stage1_work(), pod.stage1_rootfs(),
                       sync);
  UniqueFd stage1 = fs::open_fd(pod.stage1_rootfs(), O_PATH | O_DIRECTORY);
  // The mount points and files crt makes in stage1 at each start, and that
  // need not outlive the pod, go on tmpfs mounts over directories stage1
  // has: in the upper layer each would cost a new inode (slow on ext4
  // without a journal once pods have been removed) and a copy-up of its
  // parents.
  UniqueFd stage2 = mount::make_dir_in_root(stage1.get(), pod::kStage2Dir);
  mount::mount_tmpfs(mount::fd_path(stage2.get()));
  for (const auto& app : m.apps) {
    with_context("mounting the rootfs of app " + quote(app.name), [&] {
      fs::make_dirs(pod.app_upper(app.name));
      fs::make_dirs(pod.app_work(app.name));
      UniqueFd target = mount::make_dir_in_root(stage1.get(), pod::app_rootfs_in_stage1(app.name));
      mount::mount_overlay(store.tree_paths(app.image.layers), pod.app_upper(app.name), pod.app_work(app.name),
                           mount::fd_path(target.get()), sync);
    });
  }
  mount_volumes(pod, m);
  std::vector<std::string> names;
  for (const auto& app : m.apps) names.push_back(app.name);
  try {
    pod::make_spare_records(pod.status_dir(), names);
  } catch (const Error&) {
    // A disk this full fails the pod's start soon enough; where it does
    // not, the apps' records need new files, as they did without spares.
  }
  UniqueFd status = mount::make_dir_in_root(stage1.get(), "/crt/status");
  mount::bind_mount(pod.status_dir(), mount::fd_path(status.get()));
  UniqueFd etc = mount::make_dir_in_root(stage1.get(), mount::kPodEtc);
  mount::mount_tmpfs(mount::fd_path(etc.get()));
}

PodRollback::~PodRollback() {
  if (committed_) return;
  // Our mounts live only in this process's mount namespace; detach them
  // (the stage1 rootfs with all under it, the pod's tmpfs volumes).
  for (const auto& m : mount::mounts_below(pod_.path())) ::umount2(m.c_str(), MNT_DETACH);
  try {
    if (mode_ == Mode::kBackToPrepared) {
      ::unlink(pod_.pid_file().c_str());  // from the start that failed
      pod_.move_to(PodState::kPrepared);
      // After the move (a failure to count it leaves the pod prepared):
      // counted, for a wait on the start to end.
      try {
        fs::write_file_atomic(pod_.start_failed_file(), std::to_string(failed_starts(pod_.path()) + 1) + "\n", 0644,
                              fs::Durability::kCached);
      } catch (const Error& e) {
        tell(messages_, "warning: counting the failed start of pod " + pod_.uuid() + ": " + e.what());
      }
      return;
    }
    // What crt gc needs to tear down a network that could not be torn down
    // (its namespace, addresses, rules) is in the pod's directory.
    if (std::optional<net::NetworkState> net = net::read_state(pod_.path()); net && !net->torn_down) {
      tell(messages_, "warning: leaving " + quote(pod_.path().string()) +
                          " behind: its network is not torn down; 'crt gc' will try again");
      return;
    }
    pod_.remove();
  } catch (const Error& e) {
    tell(messages_, "warning: leaving " + quote(pod_.path().string()) + " behind: " + e.what());
  }
}

PreparedPod prepare_pod(const pod::RunRequest& req, const RunContext& ctx, PodState destination) {
  store::Store store(ctx.state_dir);
  store.set_lock_wait(ctx.resolve.store_wait);
  store.set_messages(ctx.messages);
  // From the lookup of its images until its overlays are mounted no image of
  // this pod may be removed; afterwards its manifest pins them.
  FileLock store_lock;
  // An image that fails meanwhile (a pull's layer) is taken back once this
  // hold ends, however prepare_pod ends: by then the pod, if it is made,
  // pins its own layers.
  struct DeferredRollbacks {
    store::Store& store;
    FileLock& hold;
    ~DeferredRollbacks() {
      hold = FileLock();
      store.roll_back_deferred();
    }
  } deferred{store, store_lock};
  pod::PodManifest m;
  try {
    store_lock = store.lock_shared();
    store.set_callers_lock(&store_lock);
    m = plan_pod(req, store, ctx);
  } catch (const Error&) {
    check_interrupted();  // a pull cut short by Ctrl-C is an interruption
    throw;
  }
  check_interrupted();
  // A pod prepared for later must name networks that exist now (crt
  // prepare would otherwise accept a pod that can never start); a pod that
  // starts at once has them looked up as they are attached.
  if (pod::NetSpec spec = pod::parse_net_spec(m.net); destination == PodState::kPrepared && spec.cni()) {
    net::select_networks(spec, net::load_networks(ctx.config_dir / "net.d"),
                         [&ctx](const std::string& w) { tell(ctx.messages, w); });
  }

  // Two crt run --pod-name=X at once both passed the check above (made
  // before their images were found): the check again, and the pod made and
  // named, under one lock.
  FileLock naming;
  if (!m.name.empty()) {
    naming =
        FileLock::acquire(make_state_subdir(ctx.state_dir, "pods", 0700) / "naming.lock", FileLock::Mode::kExclusive);
    check_pod_name(m.name, ctx.state_dir);
  }
  PodDir pod = PodDir::create(ctx.state_dir, m.uuid);
  PodRollback rollback(pod, PodRollback::Mode::kRemove, ctx.messages);
  pod.write_manifest(m);
  naming = FileLock();
  // A pod that runs now is mounted where it will be: the overlay options
  // name these paths, and that is what users see in findmnt and
  // /proc/PID/mountinfo. One prepared for later is mounted again when it
  // runs: it moves to prepared/ only once resolved and written, so that a
  // crt killed meanwhile leaves an aborted prepare (gc's), not a prepared
  // pod no start can run.
  if (destination == PodState::kRun) pod.move_to(destination);
  mount::enter_private_mount_namespace();
  // The pod is removed if this fails: its UUID would name nothing.
  with_context("preparing the pod", [&] {
    // A pod that runs now is garbage after a crash, so its overlays need
    // not sync (unmounting a synced one syncs the whole upper filesystem).
    // A pod prepared for later is mounted again when it runs.
    mount_pod(pod, m, store, destination == PodState::kRun ? mount::UpperSync::kVolatile : mount::UpperSync::kSynced);
    resolve_apps(pod, m, req);
  });
  // A pod that runs now has it written by launch_pod, with what starting it
  // adds.
  if (destination != PodState::kRun) {
    pod.write_manifest(m);
    pod.move_to(destination);
  }
  check_interrupted();
  rollback.commit();
  return {std::move(pod), std::move(m)};
}

}  // namespace crt::runtime
