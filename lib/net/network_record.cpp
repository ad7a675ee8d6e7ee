#include "net/network_record.hpp"

#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"

namespace crt::net {

namespace stdfs = std::filesystem;

namespace {

constexpr const char* kOwnerFile = "owner";

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
      fs::write_file_atomic(stdfs::path(tmp) / kOwnerFile, record_owner_path(state_dir).string() + "\n", 0644,
                            fs::Durability::kCached);
      write_state(tmp, state);
      // An earlier start's, which its teardown did not remove.
      if (stdfs::exists(dir)) fs::remove_tree(dir);
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

std::vector<NetworkRecord> network_records() {
  std::vector<NetworkRecord> out;
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(kNetworkRecordsDir, ec)) {
    std::string name = de.path().filename();
    if (name.empty() || name[0] == '.' || !de.is_directory(ec)) continue;  // one being made
    NetworkRecord r{name, de.path(), {}};
    try {
      std::string owner = trim_end(fs::read_file(de.path() / kOwnerFile), "\n");
      if (!owner.empty() && owner[0] == '/') r.owner = owner;
    } catch (const Error&) {
      // Unreadable: whose it is is not known.
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace crt::net
