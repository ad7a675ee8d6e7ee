// prepare-app: makes an app rootfs a reasonable environment before the app
// starts. Runs inside stage1 as prepare-app@<app>.service.

#include <fcntl.h>
#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include "apply_plan.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "mount/app_plan.hpp"

namespace {

void write_generated_etc() {
  crt::fs::make_dirs(crt::mount::kGeneratedEtc);
  struct utsname u {};
  ::uname(&u);
  std::string dir = crt::mount::kGeneratedEtc;
  crt::fs::write_file_atomic(dir + "/hostname", std::string(u.nodename) + "\n", 0644, crt::fs::Durability::kCached);
  crt::fs::write_file_atomic(dir + "/hosts", crt::mount::hosts_file(u.nodename), 0644, crt::fs::Durability::kCached);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: prepare-app ROOTFS\n");
    return 2;
  }
  try {
    crt::with_context("preparing " + crt::quote(argv[1]), [&] {
      crt::UniqueFd root = crt::fs::open_fd(argv[1], O_PATH | O_DIRECTORY);
      write_generated_etc();
      crt::prepare_app::apply_plan(root.get(), crt::mount::app_mount_plan());
    });
  } catch (const crt::Error& e) {
    std::fprintf(stderr, "prepare-app: %s\n", e.what());
    return 1;
  }
  return 0;
}
