#include "mount/overlay.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <set>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace crt::mount {

namespace {

/// mount(2) takes one page of options.
constexpr size_t kMaxOptions = 4096;

std::string escape_option_path(const std::string& p) {
  std::string out;
  for (char c : p) {
    if (c == ':' || c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string unescape_option_path(std::string_view escaped) {
  std::string out;
  for (size_t i = 0; i < escaped.size(); ++i)
    out += escaped[i] == '\\' && i + 1 < escaped.size() ? escaped[++i] : escaped[i];
  return out;
}

std::vector<std::string> split_lowerdir(std::string_view value) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i + 1 < value.size() && value[i] == '\\') {
      ++i;  // the escaped character
    } else if (i == value.size() || value[i] == ':') {
      out.push_back(unescape_option_path(value.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

namespace {

/// What the kernel said into a file system context's log about its last
/// error ("e overlay: …"), without the level; empty if nothing.
std::string context_log(int fs) {
  char log[512];
  ssize_t n = ::read(fs, log, sizeof log - 1);
  std::string text = n > 2 ? std::string(log + 2, static_cast<size_t>(n - 2)) : std::string();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

/// An overlay of more layers than mount(2)'s one page of options holds:
/// each layer on its own (fsconfig's "lowerdir+", Linux 6.8). False, with
/// nothing mounted, where the kernel does not know lowerdir+.
bool mount_overlay_by_layer(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work, const std::filesystem::path& target, UpperSync sync) {
  std::string what = "mounting an overlay of " + std::to_string(lowers.size()) +
                     (lowers.size() == 1 ? " layer on " : " layers on ") + quote(target.string());
  UniqueFd fs(static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  if (!fs && errno == ENOSYS) return false;  // before Linux 5.2
  if (!fs) throw_errno(what);
  // Before 6.5 overlayfs has no parameters of its own: the VFS takes any key
  // into one page of legacy options, which a long lowerdir+ list overflows
  // (or whose upperdir, workdir, or escapes, overflow it later). A key no
  // file system has tells: legacy takes it, overlayfs refuses it.
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_FLAG, "crt-probe", nullptr, 0) == 0) return false;
  (void)context_log(fs.get());  // overlayfs's "Unknown parameter 'crt-probe'"
  bool first = true;
  auto set = [&](const char* key, const std::string& value) {
    if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0) return true;
    int err = errno;
    std::string log = context_log(fs.get());
    // 6.5 to 6.7: overlayfs's own parameters, without lowerdir+.
    if (first && err == EINVAL && log.find("Unknown parameter") != std::string::npos) return false;
    // The kernel's words name what it refused.
    throw_errno(err, what + ": " + (log.empty() ? key + std::string("=") + value : log));
  };
  for (const auto& l : layers_top_first(lowers)) {
    if (!set("lowerdir+", l.string())) return false;
    first = false;
  }
  // Unlike lowerdir+, the kernel unescapes these as it does in mount(2)'s
  // options: a '\\' in a path must be escaped.
  set("upperdir", escape_option_path(upper.string()));
  set("workdir", escape_option_path(work.string()));
  if (sync == UpperSync::kVolatile && ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0) < 0)
    throw_errno(what + ": volatile");
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    int err = errno;
    std::string log = context_log(fs.get());  // why, as the kernel says it
    throw_errno(err, what + (log.empty() ? "" : ": " + log));
  }
  UniqueFd mnt(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, 0)));
  if (!mnt) throw_errno(what);
  // Onto an fd: move_mount(2) refuses a /proc/self/fd/N path (EINVAL).
  UniqueFd where(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!where) throw_errno(what);
  if (::syscall(SYS_move_mount, mnt.get(), "", where.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    throw_errno(what);
  return true;
}

/// mount(2) of an overlay with `data`; "volatile" added where asked for
/// and the kernel has it.
void mount_with_options(const std::string& data, const std::filesystem::path& target, UpperSync sync) {
  // Kernels before 5.10 do not know "volatile" (EINVAL): they get a synced one.
  if (std::string v = data + ",volatile"; sync == UpperSync::kVolatile && v.size() < kMaxOptions) {
    if (::mount("overlay", target.c_str(), "overlay", 0, v.c_str()) == 0) return;
    if (errno != EINVAL) throw_errno("mounting an overlay on " + quote(target.string()));
  }
  if (::mount("overlay", target.c_str(), "overlay", 0, data.c_str()) < 0)
    throw_errno("mounting an overlay on " + quote(target.string()));
}

}  // namespace

// Each layer once, where it is highest: overlayfs refuses a directory given
// twice (ELOOP), and images repeat layers (BuildKit the empty one). A layer
// sets every path it has, whiteouts and opaque directories included, to the
// same thing wherever it lies, and leaves the others as they were below
// it; so its lower copies set nothing that the highest does not set again
// over whatever the layers between made of it.
std::vector<std::filesystem::path> layers_top_first(const std::vector<std::filesystem::path>& lowers) {
  if (lowers.empty()) throw Error("an overlay needs at least one lower layer");
  std::set<std::filesystem::path> seen;
  std::vector<std::filesystem::path> out;
  for (auto it = lowers.rbegin(); it != lowers.rend(); ++it)
    if (seen.insert(*it).second) out.push_back(*it);
  return out;
}

std::string overlay_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                            const std::filesystem::path& work) {
  std::string lowerdir;
  for (const auto& l : layers_top_first(lowers)) {
    if (!lowerdir.empty()) lowerdir += ':';
    lowerdir += escape_option_path(l.string());
  }
  return "lowerdir=" + lowerdir + ",upperdir=" + escape_option_path(upper.string()) +
         ",workdir=" + escape_option_path(work.string());
}

void mount_overlay_through_fds(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                               const std::filesystem::path& work, const std::filesystem::path& target, UpperSync sync) {
  std::vector<std::filesystem::path> layers = layers_top_first(lowers);
  std::vector<UniqueFd> fds;
  std::vector<std::filesystem::path> names;  // lowest first, as overlay_options takes them
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    UniqueFd fd = fs::open_fd(*it, O_PATH | O_DIRECTORY);
    names.push_back("/proc/self/fd/" + std::to_string(fd.get()));
    fds.push_back(std::move(fd));
  }
  std::string data = overlay_options(names, upper, work);
  if (data.size() >= kMaxOptions)
    throw Error("mounting an overlay of " + std::to_string(layers.size()) + " layers on " + quote(target.string()) +
                ": too many for one page of overlay options, even named by descriptor (taking the layers one by one "
                "needs Linux 6.8)");
  mount_with_options(data, target, sync);
}

namespace {

void mount_overlay_as_the_kernel_can(const std::vector<std::filesystem::path>& lowers,
                                     const std::filesystem::path& upper, const std::filesystem::path& work,
                                     const std::filesystem::path& target, UpperSync sync) {
  std::string data = overlay_options(lowers, upper, work);
  if (data.size() < kMaxOptions) {
    try {
      return mount_with_options(data, target, sync);
    } catch (const SystemError& e) {
      // mount(2) says only "Invalid argument", and why into the kernel's
      // log. Through the new mount API (lowerdir+: Linux 6.8) the kernel
      // says why to crt; where it mounts after all, so much the better.
      if (e.code() != EINVAL || !mount_overlay_by_layer(lowers, upper, work, target, sync)) throw;
      return;
    }
  }
  if (!mount_overlay_by_layer(lowers, upper, work, target, sync))
    mount_overlay_through_fds(lowers, upper, work, target, sync);
}

}  // namespace

void mount_overlay(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                   const std::filesystem::path& work, const std::filesystem::path& target, UpperSync sync) {
  try {
    mount_overlay_as_the_kernel_can(lowers, upper, work, target, sync);
  } catch (const SystemError& e) {
    // The one refusal a user meets: crt's state directory on an overlay (a
    // container's root, say).
    struct statfs sfs {};
    if (e.code() != EINVAL || ::statfs(upper.c_str(), &sfs) < 0 || sfs.f_type != OVERLAYFS_SUPER_MAGIC) throw;
    throw Error(std::string(e.what()) +
                " (crt's state directory, --dir, is on an overlay, where overlayfs keeps no upper layer: it must be "
                "on another file system)");
  }
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
