#include "store/layer_view.hpp"

#include <sys/stat.h>

#include <deque>
#include <optional>

#include "store/whiteout.hpp"

namespace crt::store {

namespace {

struct Entry {
  stdfs::path path;
  struct stat st;
};

/// The entry the union shows at `parts` (each component an existing
/// directory but maybe the last), or nothing.
std::optional<Entry> look_up(const std::vector<stdfs::path>& dirs, const std::vector<std::string>& parts) {
  std::vector<const stdfs::path*> stack;
  for (const auto& d : dirs) stack.push_back(&d);
  stdfs::path rel;
  std::optional<Entry> top;
  for (const auto& part : parts) {
    rel /= part;
    std::vector<const stdfs::path*> below;
    top.reset();
    for (const stdfs::path* d : stack) {
      stdfs::path p = *d / rel;
      struct stat st {};
      if (::lstat(p.c_str(), &st) != 0) continue;
      if (is_overlay_whiteout(st)) break;
      if (!top) top = Entry{p, st};
      // Anything but a directory hides what is below it; so does an opaque
      // directory.
      if (!S_ISDIR(st.st_mode)) break;
      below.push_back(d);
      if (is_overlay_opaque(p)) break;
    }
    if (!top) return std::nullopt;
    stack = std::move(below);
  }
  return top;
}

void push_front_components(std::deque<std::string>& todo, std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  todo.insert(todo.begin(), parts.begin(), parts.end());
}

}  // namespace

bool exists_in_union(const std::vector<stdfs::path>& dirs, const std::string& path) {
  std::vector<std::string> parts;
  for (const auto& p : stdfs::path(path).lexically_normal().relative_path())
    if (!p.empty() && p != ".") parts.push_back(p.string());
  return !parts.empty() && look_up(dirs, parts).has_value();
}

std::string resolve_in_union(const std::vector<stdfs::path>& dirs, std::string_view path) {
  // As the kernel's limit of symlinks in one lookup.
  constexpr int kMaxLinks = 40;
  std::vector<std::string> done;
  std::deque<std::string> todo;
  push_front_components(todo, path);
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(part);
    std::optional<Entry> e = look_up(dirs, done);
    if (!e || !S_ISLNK(e->st.st_mode) || links >= kMaxLinks) continue;
    ++links;
    std::error_code ec;
    std::string target = stdfs::read_symlink(e->path, ec).string();
    if (ec) continue;
    done.pop_back();
    if (!target.empty() && target.front() == '/') done.clear();
    push_front_components(todo, target);
  }
  std::string out;
  for (const auto& p : done) out += (out.empty() ? "" : "/") + p;
  return out;
}

}  // namespace crt::store
