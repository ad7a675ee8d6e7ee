#include "net/network_record.hpp"

#include <fcntl.h>

#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;

namespace {

constexpr const char* kOwnerFile = "owner";

/// The lock of directory `dir`, taken with `take`; empty if it is gone.
template <typename Take>
FileLock lock_dir(const stdfs::path& dir, Take take) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    throw_errno("opening " + quote(dir.string()));
  }
  return take(std::move(fd));
}

/// The lock of directory `dir`, if no one holds it: nullopt while another
/// process does; empty (valid() false) if it is gone.
std::optional<FileLock> try_lock_dir(const stdfs::path& dir) {
  bool held = false;
  FileLock lock = lock_dir(dir, [&held](UniqueFd fd) {
    FileLock tried = FileLock::try_acquire(std::move(fd), FileLock::Mode::kExclusive);
    held = !tried.valid();
    return tried;
  });
  if (held) return std::nullopt;
  return lock;
}

}  // namespace

stdfs::path network_record_dir(const std::string& uuid) { return stdfs::path(kNetworkRecordsDir) / uuid; }

stdfs::path record_owner_path(const stdfs::path& state_dir) {
  std::error_code ec;
  stdfs::path p = stdfs::weakly_canonical(stdfs::absolute(state_dir), ec);
  return ec ? stdfs::absolute(state_dir).lexically_normal() : p;
}

stdfs::path make_network_record(const std::string& uuid, const stdfs::path& state_dir, const NetworkState& state) {
  return with_context("recording the network of pod " + uuid + " in " + quote(kNetworkRecordsDir), [&] {
    fs::make_dirs(kNetworkRecordsDir, 0700);
    std::string tmp = (stdfs::path(kNetworkRecordsDir) / ("." + uuid + ".XXXXXX")).string();
    if (::mkdtemp(tmp.data()) == nullptr) throw_errno("creating " + quote(tmp));
    stdfs::path dir = network_record_dir(uuid);
    try {
      // Held until it is in place: crt gc removes those a killed crt left
      // (remove_unfinished_records()), not this one, however long it takes.
      FileLock making =
          lock_dir(tmp, [](UniqueFd fd) { return FileLock::acquire(std::move(fd), FileLock::Mode::kExclusive); });
      fs::write_file_atomic(stdfs::path(tmp) / kOwnerFile, record_owner_path(state_dir).string() + "\n", 0644,
                            fs::Durability::kCached);
      write_state(tmp, state);
      // An earlier start's, which its teardown did not remove, once no crt
      // gc looks at it.
      FileLock earlier = lock_network_record(uuid);
      if (earlier.valid() && earlier.still_at(dir)) fs::remove_tree(dir);
      if (std::rename(tmp.c_str(), dir.c_str()) != 0)
        throw_errno("renaming " + quote(tmp) + " to " + quote(dir.string()));
    } catch (...) {
      std::error_code ec;
      stdfs::remove_all(tmp, ec);
      throw;
    }
    return dir;
  });
}

void remove_network_record(const std::string& uuid) {
  stdfs::path dir = network_record_dir(uuid);
  std::error_code ec;
  if (!stdfs::exists(dir, ec)) return;
  with_context("removing the record of pod " + uuid + "'s network", [&] { fs::remove_tree(dir); });
}

void remove_torn_down_record(const std::string& uuid, const NetworkState& s, const MessageSink& messages) {
  stdfs::path dir = network_record_dir(uuid);
  try {
    with_context("removing the record of pod " + uuid + "'s network", [&] {
      if (std::error_code ec; !stdfs::exists(dir, ec)) return;
      write_state(dir, s);
      fs::remove_tree(dir);
    });
  } catch (const Error& e) {
    tell(messages, std::string("warning: ") + e.what() + " ('crt gc' removes it)");
  }
}

FileLock lock_network_record(const std::string& uuid) {
  return lock_dir(network_record_dir(uuid),
                  [](UniqueFd fd) { return FileLock::acquire(std::move(fd), FileLock::Mode::kExclusive); });
}

std::optional<FileLock> lock_network_record_within(const std::string& uuid, std::chrono::milliseconds most,
                                                   const std::function<void()>& while_held) {
  stdfs::path dir = network_record_dir(uuid);
  // Tried again and again, not waited for: flock(2) has no timeout, and
  // the caller speaks up now and then meanwhile.
  auto until = std::chrono::steady_clock::now() + most;
  std::optional<std::chrono::steady_clock::time_point> told;
  for (;;) {
    if (std::optional<FileLock> lock = try_lock_dir(dir)) return std::move(*lock);
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return std::nullopt;
    if (while_held && (!told || now - *told >= kRecordWaitNotice)) {
      while_held();
      told = now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<FileLock> try_lock_network_record(const std::string& uuid) {
  // Not a name crt gives a record (network_records() passes over those).
  if (uuid.empty() || uuid[0] == '.' || uuid.find('/') != std::string::npos) return FileLock();
  stdfs::path dir = network_record_dir(uuid);
  std::optional<FileLock> lock = try_lock_dir(dir);
  if (lock && lock->valid() && !lock->still_at(dir)) return std::nullopt;
  return lock;
}

FileLock try_lock_network_record(const NetworkRecord& r) {
  std::optional<FileLock> lock = try_lock_network_record(r.uuid);
  return lock ? std::move(*lock) : FileLock();
}

std::vector<std::string> remove_unfinished_records(std::chrono::seconds age, std::vector<std::string>& failed) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(kNetworkRecordsDir, ec)) {
    std::string name = de.path().filename();
    std::error_code de_ec;
    if (name.size() < 2 || name[0] != '.' || !de.is_directory(de_ec)) continue;
    auto written = stdfs::last_write_time(de.path(), de_ec);
    if (de_ec || stdfs::file_time_type::clock::now() - written < age) continue;
    try {
      with_context("removing " + quote(de.path().string()) + ", left by a crt killed while it made it", [&] {
        std::optional<FileLock> lock = try_lock_dir(de.path());
        if (!lock || !lock->valid() || !lock->still_at(de.path())) return;  // its crt is at it, or it is gone
        fs::remove_tree(de.path());
        removed.push_back(name);
      });
    } catch (const Error& e) {
      failed.push_back(e.what());
    }
  }
  return removed;
}

NetworkRecord network_record(const std::string& uuid) {
  NetworkRecord r{uuid, network_record_dir(uuid), {}};
  try {
    std::string owner = trim_end(fs::read_file(r.dir / kOwnerFile), "\n");
    if (!owner.empty() && owner[0] == '/') r.owner = owner;
  } catch (const Error&) {
    // Unreadable, or gone: whose it is is not known.
  }
  return r;
}

std::vector<NetworkRecord> network_records() {
  std::vector<NetworkRecord> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(kNetworkRecordsDir, ec)) {
    std::string name = de.path().filename();
    if (name.empty() || name[0] == '.' || !de.is_directory(ec)) continue;  // one being made
    out.push_back(network_record(name));
  }
  return out;
}

}  // namespace crt::net
