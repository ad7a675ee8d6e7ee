#include "runtime/pod_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/state_dir.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

const char* state_dir_name(PodState s) {
  switch (s) {
    case PodState::kPrepare: return "prepare";
    case PodState::kPrepared: return "prepared";
    case PodState::kRun: return "run";
    case PodState::kExitedGarbage: return "exited-garbage";
    case PodState::kGarbage: return "garbage";
  }
  return "?";
}

namespace {

/// An exclusive lock of a pod directory, or none if another holds it. crt
/// list and status test each pod's lock with a shared one for a moment: a
/// lock held that briefly is tried again.
FileLock lock_pod_dir(UniqueFd dir) {
  for (int attempt = 0;; ++attempt) {
    UniqueFd fd(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0));
    if (!fd) throw_errno("duplicating a file descriptor");
    FileLock lock = FileLock::try_acquire(std::move(fd), FileLock::Mode::kExclusive);
    if (lock.valid() || attempt == 4) return lock;
    ::usleep(2000);
  }
}

}  // namespace

PodDir PodDir::create(const stdfs::path& state_dir, const std::string& uuid) {
  return with_context("creating the pod directory", [&] {
    stdfs::path pods = make_state_subdir(state_dir, "pods", 0700);
    for (PodState s : {PodState::kPrepare, PodState::kPrepared, PodState::kRun, PodState::kExitedGarbage,
                       PodState::kGarbage})
      fs::make_dirs(pods / state_dir_name(s), 0700);
    stdfs::path dir = pods / state_dir_name(PodState::kPrepare) / uuid;
    if (::mkdir(dir.c_str(), 0700) < 0) throw_errno("creating " + quote(dir.string()));
    try {
      FileLock lock = lock_pod_dir(fs::open_fd(dir, O_RDONLY | O_DIRECTORY));
      if (!lock.valid()) throw Error(quote(dir.string()) + " is locked by another process");
      PodDir pod(pods, dir, uuid, PodState::kPrepare, std::move(lock));
      for (const auto& d : {pod.stage1_rootfs(), pod.stage1_upper(), pod.stage1_work(), pod.status_dir()})
        fs::make_dirs(d, 0755);
      return pod;
    } catch (...) {
      // Half made (no inode or fd left, say): nothing of it stays.
      try {
        fs::remove_tree(dir);
      } catch (const Error&) {
      }
      throw;
    }
  });
}

std::optional<PodDir> PodDir::try_lock(const stdfs::path& state_dir, const std::string& uuid, PodState state) {
  stdfs::path pods = state_dir / "pods";
  stdfs::path dir = pods / state_dir_name(state) / uuid;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return std::nullopt;  // moved or removed by another meanwhile
  if (fd < 0) throw_errno("opening pod " + quote(uuid));
  FileLock lock = lock_pod_dir(UniqueFd(fd));
  if (!lock.valid()) return std::nullopt;
  // It may have moved between finding it and locking it.
  if (!stdfs::exists(dir)) return std::nullopt;
  return PodDir(pods, dir, uuid, state, std::move(lock));
}

PodDir PodDir::adopt(const stdfs::path& state_dir, const std::string& uuid, PodState state, int lock_fd) {
  stdfs::path pods = state_dir / "pods";
  stdfs::path dir = pods / state_dir_name(state) / uuid;
  // A lock taken anew on the same open file is the one it holds; one that
  // is not held would be taken here only if no other process holds it.
  FileLock lock = lock_pod_dir(UniqueFd(::fcntl(lock_fd, F_DUPFD_CLOEXEC, 0)));
  if (!lock.valid()) throw Error("fd " + std::to_string(lock_fd) + " does not hold the lock of pod " + uuid);
  if (!lock.still_at(dir)) throw Error("fd " + std::to_string(lock_fd) + " is not the lock of pod " + uuid);
  return PodDir(pods, dir, uuid, state, std::move(lock));
}

void PodDir::move_to(PodState state) {
  stdfs::path to = pods_root_ / state_dir_name(state) / uuid_;
  if (::rename(path_.c_str(), to.c_str()) < 0) throw_errno("moving pod " + uuid_ + " to " + quote(to.string()));
  path_ = to;
  state_ = state;
}

void PodDir::remove() {
  // pod.json last: a removal cut short (crt gc stopped with the system, a
  // pod with many files) leaves a pod whose images are still known, for
  // the next gc to remove, not one whose unreadable pod.json keeps every
  // image from being removed until then. How it ended just before: a crt
  // status --wait that finds the pod going (crt run --rm's) reads it there.
  const stdfs::path last[] = {status_dir(), oom_kills_file(), path_ / "ready"};
  std::vector<stdfs::path> entries;
  std::error_code ec;
  for (auto it = stdfs::directory_iterator(path_, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec))
    if (it->path() != manifest_file() && std::find(std::begin(last), std::end(last), it->path()) == std::end(last))
      entries.push_back(it->path());
  entries.insert(entries.end(), std::begin(last), std::end(last));
  for (const auto& e : entries) fs::remove_tree(e);
  fs::remove_tree(path_);
}

void PodDir::write_manifest(const pod::PodManifest& m) const {
  fs::write_file_atomic(manifest_file(), pod::serialize(m), 0644, fs::Durability::kCached);
}

stdfs::path PodDir::journal_dir() const { return stage1_upper() / "var" / "log" / "journal" / machine_id_of(uuid_); }

// The file: the relative path on its first line, the identity's lines after it.
void write_cgroup_record(const stdfs::path& pod_path, const CgroupRecord& r) {
  fs::write_file_atomic(pod_path / PodDir::kCgroupFile, r.relative + "\n" + r.identity, 0644, fs::Durability::kCached);
}

std::optional<CgroupRecord> read_cgroup_record(const stdfs::path& pod_path) {
  std::string text;
  try {
    text = fs::read_file(pod_path / PodDir::kCgroupFile);
  } catch (const Error&) {
    return std::nullopt;
  }
  size_t nl = text.find('\n');
  if (nl == std::string::npos || nl == 0) return std::nullopt;
  return CgroupRecord{text.substr(0, nl), text.substr(nl + 1)};
}

std::string machine_id_of(const std::string& uuid) {
  std::string id = uuid;
  std::erase(id, '-');
  return id;
}

namespace {

/// Where nspawn links the journals of the pods (--link-journal=try-guest).
constexpr const char* kHostJournalDir = "/var/log/journal";

/// The name point_journal_link_at_upper gives a pod's new link until it is
/// renamed into place: ".#MACHINE-ID.crt-" and a random suffix.
std::string temporary_journal_link_prefix(const std::string& id) { return ".#" + id + ".crt-"; }

}  // namespace

void point_journal_link_at_upper(const PodDir& pod) {
  std::string id = machine_id_of(pod.uuid());
  stdfs::path link = stdfs::path(kHostJournalDir) / id;
  std::error_code ec;
  if (stdfs::read_symlink(link, ec) != pod.stage1_rootfs() / "var" / "log" / "journal" / id || ec) return;
  // Replaced whole (a rename): a reader never finds no link.
  stdfs::path tmp = link.parent_path() / (temporary_journal_link_prefix(id) + fs::random_suffix());
  if (::symlink(pod.journal_dir().c_str(), tmp.c_str()) < 0) return;
  if (::rename(tmp.c_str(), link.c_str()) < 0) ::unlink(tmp.c_str());
}

void remove_journal_link(const std::filesystem::path& pod_path, const std::string& uuid) {
  std::string id = machine_id_of(uuid);
  std::filesystem::path link = std::filesystem::path(kHostJournalDir) / id;
  std::error_code ec;
  std::string target = std::filesystem::read_symlink(link, ec).string();
  std::string pods_dir = pod_path.parent_path().parent_path().string() + "/";
  if (!ec && target.rfind(pods_dir, 0) == 0 && target.find("/" + uuid + "/", pods_dir.size()) != std::string::npos)
    ::unlink(link.c_str());
  // A crt killed as it replaced the link left the new one under its
  // temporary name. The pod's machine ID is in that name, and the pod no
  // longer runs: no other crt is replacing its link now.
  std::string prefix = temporary_journal_link_prefix(id);
  for (const auto& de : std::filesystem::directory_iterator(kHostJournalDir, ec))
    if (de.path().filename().string().rfind(prefix, 0) == 0 && de.is_symlink(ec)) ::unlink(de.path().c_str());
}

std::string new_uuid() {
  sd_id128_t id;
  int r = sd_id128_randomize(&id);
  if (r < 0) throw_errno(-r, "generating a UUID");
  char buf[SD_ID128_UUID_STRING_MAX];
  return sd_id128_to_uuid_string(id, buf);
}

std::filesystem::path PodDir::notify_socket() const {
  std::filesystem::path in_pod = path_ / "notify";
  if (in_pod.native().size() < sizeof(sockaddr_un::sun_path)) return in_pod;
  return std::filesystem::path(fs::kRunDir) / ("notify-" + uuid_);
}

}  // namespace crt::runtime
