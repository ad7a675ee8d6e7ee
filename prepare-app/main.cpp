// prepare-app: makes an app rootfs a reasonable environment before the app
// starts. Runs inside stage1 as prepare-app@<app>.service.

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "apply_plan.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "mount/app_plan.hpp"
#include "wait_file.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: prepare-app ROOTFS\n");
    return 2;
  }
  // ROOTFS is /opt/stage2/APP/rootfs.
  std::string app = std::filesystem::path(argv[1]).parent_path().filename();
  try {
    crt::with_context("app " + crt::quote(app) + ": preparing its rootfs " + crt::quote(argv[1]), [&] {
      crt::UniqueFd root = crt::fs::open_fd(argv[1], O_PATH | O_DIRECTORY);
      // crt sets the pod's network up while the pod boots and writes the
      // files the app sees once it is ready; the app starts with it.
      std::string etc = crt::mount::kPodEtc;
      crt::prepare_app::wait_for_file(etc + "/" + crt::mount::kPodEtcLastFile, std::chrono::minutes(5),
                                      etc + "/" + crt::mount::kPodStarterSocket);
      crt::prepare_app::apply_plan(root.get(), crt::mount::app_mount_plan());
    });
  } catch (const std::exception& e) {
    // As an error (journald's level prefix): crt run shows it.
    std::fprintf(stderr, "<3>prepare-app: %s\n", e.what());
    return 1;
  }
  return 0;
}
