#include "podfile/generate.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "common/error.hpp"
#include "common/strings.hpp"
#include "podfile/pod_unit.hpp"
#include "unit/render.hpp"

namespace crt::podfile {

namespace stdfs = std::filesystem;

namespace {

/// Why `p`, not a mask, is no pod file to read, or "" when it may be one
/// (read() says what else is wrong). A FIFO is not opened: it would block
/// the boot.
std::string not_a_pod_file(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) == 0) {
    if (S_ISREG(st.st_mode)) return "";
    return S_ISDIR(st.st_mode) ? "a directory, not a pod file" : "not a regular file";
  }
  int err = errno;
  std::error_code ec;
  stdfs::path target = stdfs::read_symlink(p, ec);
  if (err == ENOENT && !ec) return "a symbolic link to " + quote(target.string()) + ", which does not exist";
  return "";
}

/// The unit of a refused pod file (refused_pod_unit()), under the first of
/// its names that no unit in `units` has; none if all are taken.
void add_refused_unit(Generated& g, std::map<std::string, stdfs::path>& units, const stdfs::path& path,
                      const std::string& why, const std::string& crt_binary) {
  for (const auto& name : refused_pod_names(path)) {
    PodUnit pu = refused_pod_unit(name, path.string(), why, crt_binary);
    if (!units.emplace(pu.name, path).second) continue;
    try {
      g.files.push_back({pu.name, unit::render(pu.unit), "", true});
    } catch (const Error& e) {
      // The reason cannot be a setting (it ends in a backslash, say): the
      // kernel log has it.
      g.errors.push_back(path.string() + ": no unit says why it was refused: " + e.what());
    }
    return;
  }
}

}  // namespace

bool is_mask(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) < 0) return false;
  return (S_ISREG(st.st_mode) && st.st_size == 0) || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
}

bool is_pod_file_name(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".pod") == 0 && name.front() != '.';
}

PodFiles find_pod_files(const stdfs::path& root) {
  std::set<std::string> taken;  // by an earlier directory's file, or its mask
  PodFiles out;
  for (const char* dir : kPodDirs) {
    std::vector<stdfs::path> here;
    std::error_code ec;
    for (stdfs::directory_iterator it(root / dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!is_pod_file_name(name)) continue;
      here.push_back(it->path());
    }
    // No directory is the usual case; any other error may hide a pod.
    if (ec && ec != std::errc::no_such_file_or_directory)
      out.errors.push_back("reading directory " + quote((root / dir).string()) + ": " + ec.message());
    std::sort(here.begin(), here.end());
    for (const auto& p : here) {
      if (!taken.insert(p.filename().string()).second) continue;
      if (!is_mask(p)) out.paths.push_back(p);
    }
  }
  return out;
}

Generated generate(const std::vector<stdfs::path>& pod_files, const std::string& crt_binary, bool found) {
  Generated g;
  std::map<std::string, stdfs::path> units;  // unit name -> the file that makes it
  std::vector<std::pair<stdfs::path, std::string>> refused;  // file, why
  for (const auto& path : pod_files) {
    try {
      if (is_mask(path)) {
        g.masked.push_back(path.string());
        continue;
      }
      if (std::string why = found ? not_a_pod_file(path) : ""; !why.empty()) throw Error(path.string() + ": " + why);
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
      refused.emplace_back(path, e.what());
    }
  }
  // After the good files: their units keep their names.
  for (const auto& [path, why] : refused) add_refused_unit(g, units, path, why, crt_binary);
  return g;
}

Generated generate_under(const stdfs::path& root, const std::string& crt_binary) {
  PodFiles found = find_pod_files(root);
  Generated g = generate(found.paths, crt_binary, true);
  g.errors.insert(g.errors.begin(), found.errors.begin(), found.errors.end());
  return g;
}

std::string kmsg_record(std::string_view message, long pid) {
  std::string head = "<3>crt-generator[" + std::to_string(pid) + "]: ";
  std::string text = escape_controls_utf8(message);
  if (head.size() + text.size() + 1 <= kKmsgRecordMax) return head + text + "\n";
  constexpr std::string_view kCut = "… (cut: 'crt pod-file validate FILE' shows it whole)";
  size_t keep = kKmsgRecordMax - head.size() - kCut.size() - 1;
  // Not inside a character (the text is UTF-8 now): back to its first byte.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  // Nor inside an escape ("\xff", "\n"): from a backslash among the last 3
  // bytes kept (one of the message's own goes with it, no harm in a cut).
  if (size_t b = text.rfind('\\', keep - 1); b != std::string::npos && b + 4 > keep) keep = b;
  return head + text.substr(0, keep) + std::string(kCut) + "\n";
}

}  // namespace crt::podfile
