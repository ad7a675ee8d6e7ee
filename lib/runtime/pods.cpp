#include "runtime/pods.hpp"

#include <fcntl.h>

#include <algorithm>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/lock.hpp"
#include "pod/manifest.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

std::vector<PodEntry> list_pods(const stdfs::path& state_dir) {
  std::vector<PodEntry> out;
  for (PodState s : {PodState::kPrepare, PodState::kPrepared, PodState::kRun, PodState::kExitedGarbage,
                     PodState::kGarbage}) {
    std::error_code ec;
    for (const auto& de : stdfs::directory_iterator(state_dir / "pods" / state_dir_name(s), ec)) {
      PodEntry e{de.path().filename().string(), s, de.path(), false};
      int fd = ::open(de.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) continue;  // removed meanwhile
      e.locked = !FileLock::try_acquire(UniqueFd(fd), FileLock::Mode::kShared).valid();
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<std::string> pods_using_image(const stdfs::path& state_dir, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& p : list_pods(state_dir)) {
    bool live = p.dir_state == PodState::kPrepare || p.dir_state == PodState::kPrepared ||
                (p.dir_state == PodState::kRun && p.locked);
    if (!live) continue;
    pod::PodManifest m;
    try {
      m = pod::parse_manifest(fs::read_file(p.path / "pod.json"));
    } catch (const Error&) {
      continue;  // no manifest yet: it pins nothing
    }
    bool uses = m.stage1.id == id ||
                std::any_of(m.apps.begin(), m.apps.end(), [&](const auto& a) { return a.image.id == id; });
    if (uses) out.push_back(p.uuid);
  }
  return out;
}

}  // namespace crt::runtime
