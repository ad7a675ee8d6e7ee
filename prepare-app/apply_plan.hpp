#pragma once

#include <vector>

#include "mount/app_plan.hpp"

namespace crt::prepare_app {

/// Carries out `plan` on the app rootfs open as `root_fd`, with libmount.
/// Every target is resolved inside the rootfs.
void apply_plan(int root_fd, const std::vector<mount::MountOp>& plan);

}  // namespace crt::prepare_app
