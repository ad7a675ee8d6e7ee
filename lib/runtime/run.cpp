#include "runtime/run.hpp"

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "common/subprocess.hpp"
#include "mount/mounts.hpp"
#include "mount/overlay.hpp"
#include "runtime/launch.hpp"
#include "runtime/nspawn.hpp"
#include "runtime/pods.hpp"
#include "runtime/prepare.hpp"
#include "runtime/remove.hpp"
#include "store/store.hpp"

namespace crt::runtime {

namespace {

/// What a start of a pod holds from its first step: SIGINT and the like
/// wait for crt (SignalBlock), and a write to a pipe nobody reads fails
/// rather than kill crt, so that a pod half made or running is rolled back
/// or supervised to its end also when the reader of crt's messages (or of
/// --debug's) goes away.
struct StartSignals {
  SignalBlock block;
  SigpipeIgnored closed_stderr_is_no_reason_to_die;
};

/// --uuid-file-save names a file crt may replace: before the pod is made.
void check_uuid_file_save(const pod::PodFlags& flags) {
  if (flags.uuid_file_save) with_context("--uuid-file-save", [&] { fs::check_replaceable(*flags.uuid_file_save); });
}

/// --uuid-file-save: a pod whose UUID cannot be written goes again, as a
/// pod nobody would find (the file was how to) and whose start failed.
void save_uuid(PreparedPod& p, const pod::PodFlags& flags, const RunContext& ctx) {
  if (!flags.uuid_file_save) return;
  PodRollback rollback(p.dir, PodRollback::Mode::kRemove, ctx.messages);
  with_context("--uuid-file-save", [&] {
    fs::check_replaceable(*flags.uuid_file_save);
    fs::write_file_atomic(*flags.uuid_file_save, p.manifest.uuid + "\n", 0644, fs::Durability::kCached);
  });
  rollback.commit();
}

/// crt run --rm: the pod goes once its start has ended, however it ended
/// (its apps' end, a stop, crt's own error), after crt run has learnt how
/// its apps ended. A pod the start's rollback removed is gone already; one
/// it put back in prepared/ (crt run-prepared's, whose apps never ran) stays
/// as it was made, for a later start; one that cannot be removed is left to
/// crt gc with a warning, and crt run's exit status stays what it is.
class RemovalAtEnd {
 public:
  RemovalAtEnd(PodDir& pod, bool asked, const RunContext& ctx) : pod_(pod), asked_(asked), ctx_(ctx) {}
  ~RemovalAtEnd() {
    std::error_code ec;
    if (!asked_ || pod_.state() == PodState::kPrepared || !std::filesystem::exists(pod_.path(), ec)) return;
    try {
      remove_locked_pod(pod_, {false, ctx_.messages});
      if (ctx_.trace) ctx_.trace("removed pod " + pod_.uuid() + " (--rm)");
    } catch (const std::exception& e) {
      tell(ctx_.messages, "warning: removing pod " + pod_.uuid() + ": " + e.what() + "; 'crt gc' will remove it");
    }
  }
  RemovalAtEnd(const RemovalAtEnd&) = delete;
  RemovalAtEnd& operator=(const RemovalAtEnd&) = delete;

 private:
  PodDir& pod_;
  bool asked_;
  const RunContext& ctx_;
};

}  // namespace

LaunchOptions launch_options(const pod::PodFlags& pod) {
  LaunchOptions opts{pod.interactive, pod.debug, pod::parse_stop_timeout(pod.stop_timeout), pod.remove};
  if (auto limit = pod::parse_plugin_time_limit(pod.plugin_time_limit)) opts.plugin_time_limit = *limit;
  return opts;
}

int run_pod(const pod::RunRequest& req, const RunContext& ctx) {
  check_nspawn_installed();
  check_uuid_file_save(req.pod);
  StartSignals signals;
  PreparedPod p = prepare_pod(req, ctx, PodState::kRun);
  if (ctx.trace) ctx.trace("prepared pod " + p.manifest.uuid);
  RemovalAtEnd removal(p.dir, req.pod.remove, ctx);
  save_uuid(p, req.pod, ctx);
  return launch_pod(p, launch_options(req.pod), ctx, signals.block, PodRollback::Mode::kRemove);
}

std::string prepare_only(const pod::RunRequest& req, const RunContext& ctx) {
  check_uuid_file_save(req.pod);
  StartSignals signals;
  PreparedPod p = prepare_pod(req, ctx, PodState::kPrepared);
  save_uuid(p, req.pod, ctx);
  return p.manifest.uuid;
}

int run_prepared(const std::string& ref, const LaunchOptions& opts, const RunContext& ctx) {
  check_nspawn_installed();
  StartSignals signals;
  PodEntry e = find_pod(ctx.state_dir, ref);
  // A prepared pod another process holds reads as preparing: busy.
  if (e.status() != PodStatus::kPrepared && e.dir_state != PodState::kPrepared)
    throw Error("pod " + e.uuid + " is " + status_name(e.status()) + ", not prepared");
  std::optional<PodDir> dir = PodDir::try_lock(ctx.state_dir, e.uuid, PodState::kPrepared);
  if (!dir) {
    std::string holders = processes_holding(e.path);
    throw Error("pod " + e.uuid + " is busy: another crt is starting, removing or collecting it (" +
                (holders.empty() ? "" : holders + "; ") + "see 'crt status " + e.uuid + "')");
  }
  pod::PodManifest m = pod::parse_manifest(fs::read_file(dir->manifest_file()));
  if (opts.interactive && m.apps.size() != 1) throw Error("--interactive needs a pod with exactly one app");
  dir->move_to(PodState::kRun);
  PreparedPod p{std::move(*dir), std::move(m)};
  RemovalAtEnd removal(p.dir, opts.remove, ctx);
  {
    PodRollback rollback(p.dir, PodRollback::Mode::kBackToPrepared, ctx.messages);
    store::Store store(ctx.state_dir);
    mount::enter_private_mount_namespace();
    with_context("mounting pod " + p.manifest.uuid, [&] {
      // Its upper layers hold what crt wrote to prepare it and, after a
      // start that failed before its apps ran, what that start's crt, systemd
      // and journald wrote (units are written anew at each start): nothing
      // of an app. The marker that start's volatile mount left may go.
      mount::clear_volatile_marker(p.dir.stage1_work());
      for (const auto& app : p.manifest.apps) mount::clear_volatile_marker(p.dir.app_work(app.name));
      mount_pod(p.dir, p.manifest, store, mount::UpperSync::kVolatile);
    });
    rollback.commit();
  }
  return launch_pod(p, opts, ctx, signals.block, PodRollback::Mode::kBackToPrepared);
}

}  // namespace crt::runtime
