#pragma once

#include <utility>

#include "common/message.hpp"
#include "mount/overlay.hpp"
#include "pod/manifest.hpp"
#include "pod/run_args.hpp"
#include "runtime/pod_dir.hpp"
#include "runtime/run.hpp"
#include "store/store.hpp"

namespace crt::runtime {

/// A pod whose manifest is complete and whose overlays are mounted in this
/// process's private mount namespace.
struct PreparedPod {
  PodDir dir;
  pod::PodManifest manifest;
};

/// Prepares a pod: resolves its images in the store, creates its directory
/// and manifest, moves it to `destination` (prepared/ or run/), and mounts it
/// in a private mount namespace of this process to resolve each app's
/// binary, user and working directory inside its rootfs. The directory stays
/// locked. On failure, or a signal, nothing of it is left.
PreparedPod prepare_pod(const pod::RunRequest& req, const RunContext& ctx, PodState destination);

/// Mounts stage1 and every app rootfs of a pod (in a private mount namespace).
void mount_pod(const PodDir& pod, const pod::PodManifest& m, const store::Store& store, mount::UpperSync sync);

/// Undoes what was mounted for a pod that did not start, then removes its
/// directory (or, for a pod prepared earlier, puts it back in prepared/).
class PodRollback {
 public:
  enum class Mode { kRemove, kBackToPrepared };
  /// A pod that cannot be rolled back is left with a warning to `messages`.
  PodRollback(PodDir& pod, Mode mode, MessageSink messages) : pod_(pod), mode_(mode), messages_(std::move(messages)) {}
  ~PodRollback();
  PodRollback(const PodRollback&) = delete;
  PodRollback& operator=(const PodRollback&) = delete;
  void commit() { committed_ = true; }

 private:
  PodDir& pod_;
  Mode mode_;
  MessageSink messages_;
  bool committed_ = false;
};

}  // namespace crt::runtime
