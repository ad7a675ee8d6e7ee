#include "podfile/generate.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "common/error.hpp"
#include "podfile/pod_unit.hpp"
#include "unit/render.hpp"

namespace crt::podfile {

namespace stdfs = std::filesystem;

std::vector<stdfs::path> find_pod_files(const stdfs::path& root) {
  std::map<std::string, stdfs::path> by_name;
  for (const char* dir : kPodDirs) {
    std::error_code ec;
    for (const auto& de : stdfs::directory_iterator(root / dir, ec)) {
      std::string name = de.path().filename().string();
      if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".pod") != 0 || name.front() == '.') continue;
      if (!de.is_regular_file(ec)) continue;
      by_name.emplace(name, de.path());  // the earlier directory wins
    }
  }
  std::vector<stdfs::path> out;
  for (auto& [name, path] : by_name) out.push_back(path);
  return out;
}

Generated generate(const std::vector<stdfs::path>& pod_files, const std::string& crt_binary) {
  Generated g;
  std::set<std::string> units;
  for (const auto& path : pod_files) {
    try {
      PodUnit pu = pod_unit(read(path.string()), crt_binary);
      if (!units.insert(pu.name).second)
        throw Error(path.string() + ": another pod file already makes " + quote(pu.name) + "; skipped");
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
