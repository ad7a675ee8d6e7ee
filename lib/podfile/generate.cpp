#include "podfile/generate.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/error.hpp"
#include "podfile/pod_unit.hpp"
#include "unit/render.hpp"

namespace crt::podfile {

namespace stdfs = std::filesystem;

namespace {

/// systemd's mask: an empty file, or a link to /dev/null.
bool is_mask(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) < 0) return false;
  return (S_ISREG(st.st_mode) && st.st_size == 0) || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
}

}  // namespace

std::vector<stdfs::path> find_pod_files(const stdfs::path& root) {
  std::set<std::string> taken;  // by an earlier directory's file, or its mask
  std::vector<stdfs::path> out;
  for (const char* dir : kPodDirs) {
    std::vector<stdfs::path> here;
    std::error_code ec;
    for (const auto& de : stdfs::directory_iterator(root / dir, ec)) {
      std::string name = de.path().filename().string();
      if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".pod") != 0 || name.front() == '.') continue;
      here.push_back(de.path());
    }
    std::sort(here.begin(), here.end());
    for (const auto& p : here) {
      std::string name = p.filename().string();
      if (taken.count(name) != 0) continue;
      if (is_mask(p)) {
        taken.insert(name);
        continue;
      }
      if (!stdfs::is_regular_file(p, ec)) continue;
      taken.insert(name);
      out.push_back(p);
    }
  }
  return out;
}

Generated generate(const std::vector<stdfs::path>& pod_files, const std::string& crt_binary) {
  Generated g;
  std::map<std::string, stdfs::path> units;  // unit name -> the file that makes it
  for (const auto& path : pod_files) {
    try {
      PodUnit pu = pod_unit(read(path.string()), crt_binary);
      if (auto [it, fresh] = units.emplace(pu.name, path); !fresh)
        throw Error(path.string() + ": pod file " + quote(it->second.string()) + " already makes " + quote(pu.name) +
                    "; skipped");
      std::string text = with_context(path.string(), [&] { return unit::render(pu.unit); });
      g.files.push_back({pu.name, text, ""});
      for (const auto& t : pu.wanted_by) g.files.push_back({t + ".wants/" + pu.name, "", "../" + pu.name});
      for (const auto& t : pu.required_by) g.files.push_back({t + ".requires/" + pu.name, "", "../" + pu.name});
    } catch (const Error& e) {
      g.errors.push_back(e.what());
    }
  }
  return g;
}

}  // namespace crt::podfile
