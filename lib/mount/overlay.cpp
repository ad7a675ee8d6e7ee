#include "mount/overlay.hpp"

#include <sys/mount.h>

#include <set>

#include "common/error.hpp"

namespace crt::mount {

namespace {

std::string escape_option_path(const std::string& p) {
  std::string out;
  for (char c : p) {
    if (c == ':' || c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string overlay_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work) {
  if (lowers.empty()) throw Error("an overlay needs at least one lower layer");
  // overlayfs refuses a directory given twice (ELOOP), and images repeat
  // layers (BuildKit the empty one). Only the highest of the repeats is
  // kept: a layer sets every path it has, whiteouts and opaque directories
  // included, to the same thing wherever it lies, and leaves the others as
  // they were below it; so its lower copies set nothing that the highest
  // does not set again over whatever the layers between made of it.
  std::set<std::filesystem::path> seen;
  std::string lowerdir;
  for (auto it = lowers.rbegin(); it != lowers.rend(); ++it) {
    if (!seen.insert(*it).second) continue;
    if (!lowerdir.empty()) lowerdir += ':';
    lowerdir += escape_option_path(it->string());
  }
  return "lowerdir=" + lowerdir + ",upperdir=" + escape_option_path(upper.string()) +
         ",workdir=" + escape_option_path(work.string());
}

void mount_overlay(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                   const std::filesystem::path& work, const std::filesystem::path& target, UpperSync sync) {
  std::string data = overlay_options(lowers, upper, work);
  if (data.size() >= 4096)
    throw Error("mounting " + quote(target.string()) + ": the image has too many layers for one overlay mount");
  // Kernels before 5.10 do not know "volatile" (EINVAL): they get a synced one.
  if (std::string v = data + ",volatile"; sync == UpperSync::kVolatile && v.size() < 4096) {
    if (::mount("overlay", target.c_str(), "overlay", 0, v.c_str()) == 0) return;
    if (errno != EINVAL) throw_errno("mounting an overlay on " + quote(target.string()));
  }
  if (::mount("overlay", target.c_str(), "overlay", 0, data.c_str()) < 0)
    throw_errno("mounting an overlay on " + quote(target.string()));
}

namespace {
std::filesystem::path volatile_marker(const std::filesystem::path& work) {
  return work / "work" / "incompat" / "volatile";  // a directory, with a file in it
}
}  // namespace

bool has_volatile_marker(const std::filesystem::path& work) {
  std::error_code ec;
  return std::filesystem::exists(volatile_marker(work), ec);
}

void clear_volatile_marker(const std::filesystem::path& work) {
  std::filesystem::path marker = volatile_marker(work);
  std::error_code ec;
  std::filesystem::remove_all(marker, ec);
  if (ec) throw Error("removing " + quote(marker.string()) + ": " + ec.message());
}

}  // namespace crt::mount
