#include "cgroup/cgroup.hpp"

#include <fcntl.h>
#include <libmount.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/libmount.hpp"
#include "common/strings.hpp"
#include "unit/escape.hpp"

namespace crt::cgroup {

namespace stdfs = std::filesystem;

namespace {

Layout layout_from_table(libmnt_table* table) {
  Layout layout;
  MntIter it(mnt_new_iter(MNT_ITER_FORWARD));
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table, it.get(), &fs) == 0) {
    const char* type = mnt_fs_get_fstype(fs);
    const char* target = mnt_fs_get_target(fs);
    if (type == nullptr || target == nullptr) continue;
    std::string t = type;
    if (t != "cgroup" && t != "cgroup2") continue;
    Hierarchy h;
    h.mount_point = target;
    h.v2 = t == "cgroup2";
    if (!h.v2) {
      const char* opts = mnt_fs_get_fs_options(fs);
      std::stringstream ss(opts != nullptr ? opts : "");
      std::string o;
      while (std::getline(ss, o, ',')) {
        if (o == "rw" || o == "ro" || o == "xattr" || o.rfind("release_agent=", 0) == 0 || o == "clone_children" ||
            o == "noprefix" || o == "cpuset_v2_mode")
          continue;
        h.controllers.push_back(o);
      }
    }
    // A hierarchy mounted twice (bind mounts) counts once.
    bool dup = std::any_of(layout.hierarchies.begin(), layout.hierarchies.end(), [&](const Hierarchy& o) {
      return o.v2 == h.v2 && o.controllers == h.controllers;
    });
    if (!dup) layout.hierarchies.push_back(std::move(h));
  }
  // cgroup2 at /sys/fs/cgroup is a unified host, as systemd and nspawn
  // judge it, whatever v1 hierarchy a tool mounted besides (net_cls for a
  // VPN's split tunnel, say): those are no systemd's, nor the pod's.
  for (const auto& h : layout.hierarchies)
    if (h.v2 && h.mount_point == "/sys/fs/cgroup") return Layout{{h}};
  // The v2 hierarchy of a hybrid host goes last: nothing is bound from it.
  std::stable_partition(layout.hierarchies.begin(), layout.hierarchies.end(), [](const Hierarchy& h) { return !h.v2; });
  return layout;
}

bool managed_by_pod_systemd(const Hierarchy& h) {
  static const char* const kControllers[] = {"cpu", "cpuacct", "memory", "pids", "blkio", "devices"};
  return std::any_of(h.controllers.begin(), h.controllers.end(), [](const std::string& c) {
    return std::find(std::begin(kControllers), std::end(kControllers), c) != std::end(kControllers);
  });
}

bool has_controller(const Hierarchy& h, const std::string& c) {
  return std::find(h.controllers.begin(), h.controllers.end(), c) != h.controllers.end();
}

/// The directory of crt's own cgroup in v1 hierarchy `h`, as `own`
/// (own_cgroups()) says ("N:cpu,cpuacct:/PATH"); empty if it does not.
stdfs::path own_cgroup_in(const Hierarchy& h, const std::vector<OwnCgroup>& own) {
  for (const auto& c : own)
    if (!c.v2() &&
        std::is_permutation(c.controllers.begin(), c.controllers.end(), h.controllers.begin(), h.controllers.end()))
      return h.mount_point / trim_start(c.path, "/");
  return {};
}

std::string read_trimmed(const stdfs::path& p) { return trim_end(fs::read_file(p), " \n"); }

void write_value(const stdfs::path& p, const std::string& v) {
  UniqueFd fd = fs::open_fd(p, O_WRONLY);
  if (::write(fd.get(), v.data(), v.size()) < 0) throw_errno("writing " + quote(v) + " to " + quote(p.string()));
}

/// A v1 cpuset cgroup accepts no task until it has CPUs and memory nodes.
void init_cpuset(const stdfs::path& dir) {
  for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
    stdfs::path p = dir / f;
    if (!stdfs::exists(p) || !read_trimmed(p).empty()) continue;
    write_value(p, read_trimmed(dir.parent_path() / f));
  }
}

void enable_v2_controllers(const stdfs::path& root, const std::string& relative) {
  std::string available = read_trimmed(root / "cgroup.controllers");
  std::stringstream ss(available);
  std::string c, wanted;
  while (ss >> c)
    if (c == "cpu" || c == "memory" || c == "pids" || c == "io") wanted += (wanted.empty() ? "+" : " +") + c;
  if (wanted.empty()) return;
  // Enable along the path down to (not including) the pod's cgroup; nspawn
  // enables what the pod's own subtree needs.
  stdfs::path dir = root;
  stdfs::path rel(relative);
  for (auto it = rel.begin(); it != rel.end(); ++it) {
    try {
      write_value(dir / "cgroup.subtree_control", wanted);
    } catch (const Error&) {
      // A host manager may own this level; the pod then runs without those limits.
    }
    dir /= *it;
    if (std::next(it) == rel.end()) break;
  }
}

void collect_dirs(const stdfs::path& dir, std::vector<stdfs::path>& out) {
  std::error_code ec;
  for (const auto& de : stdfs::directory_iterator(dir, ec))
    if (de.is_directory(ec) && !de.is_symlink(ec)) collect_dirs(de.path(), out);
  out.push_back(dir);
}

/// Removes `top` and the cgroups below it, deepest first, those that are
/// empty; false if one could not be removed (a process is in it or below).
bool remove_empty_tree(const stdfs::path& top) {
  std::vector<stdfs::path> dirs;
  collect_dirs(top, dirs);
  bool all = true;
  for (const auto& d : dirs)
    if (::rmdir(d.c_str()) < 0 && errno != ENOENT) all = false;
  return all;
}

/// The inode number of a directory; 0 where there is none. Each cgroup made
/// gets a new one (kernfs numbers are not reused).
uint64_t inode_of(const stdfs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) < 0) return 0;
  return st.st_ino;
}

/// Whether a process is in `top` or a cgroup below it.
bool has_processes(const stdfs::path& top) {
  std::vector<stdfs::path> dirs;
  collect_dirs(top, dirs);
  for (const auto& d : dirs) {
    try {
      if (!read_trimmed(d / "cgroup.procs").empty()) return true;
    } catch (const Error&) {
      // gone meanwhile
    }
  }
  return false;
}

}  // namespace

Layout parse_layout(const std::string& mountinfo) {
  MntTable table = parse_mountinfo(mountinfo);
  return layout_from_table(table.get());
}

Layout detect_layout() {
  MntTable table(mnt_new_table_from_file("/proc/self/mountinfo"));
  if (!table) throw Error("reading /proc/self/mountinfo");
  Layout l = layout_from_table(table.get());
  if (l.hierarchies.empty()) throw Error("no cgroup hierarchy is mounted");
  return l;
}

std::string PodCgroup::scope_name(const std::string& machine_name) {
  return "machine-" + unit::escape_unit_name(machine_name) + ".scope";
}

std::string PodCgroup::relative_path(const std::string& machine_name) { return "machine.slice/" + scope_name(machine_name); }

std::vector<stdfs::path> PodCgroup::paths() const {
  std::vector<stdfs::path> out;
  for (const auto& h : layout_.hierarchies) out.push_back(h.mount_point / relative_);
  return out;
}

std::vector<OwnCgroup> own_cgroups() {
  std::string text;
  try {
    text = fs::read_file("/proc/self/cgroup");
  } catch (const Error&) {
    return {};
  }
  std::vector<OwnCgroup> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    size_t first = line.find(':');
    size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    out.push_back(
        {controllers.empty() ? std::vector<std::string>() : split(controllers, ','), line.substr(second + 1)});
  }
  return out;
}

Error machine_name_taken(const std::string& machine_name) {
  return Error("a machine named " + quote(machine_name) +
               " is running (a pod of that name in another state directory?): give the pod another name");
}

PodCgroup PodCgroup::create(const Layout& layout, const std::string& machine_name) {
  PodCgroup cg(layout, relative_path(machine_name));
  with_context("creating the pod's cgroup " + quote(cg.relative_), [&] {
    // The name is the machine's: a machine of that name that runs (a pod
    // of another state directory, say) has it, and would end with this pod.
    // An empty one, left by a pod of that name that died, is made anew so
    // that its identity() is this pod's alone.
    for (const auto& h : layout.hierarchies)
      if (std::error_code ec;
          stdfs::exists(h.mount_point / cg.relative_, ec) &&
          (has_processes(h.mount_point / cg.relative_) || !remove_empty_tree(h.mount_point / cg.relative_)))
        throw machine_name_taken(machine_name);
    for (const auto& h : layout.hierarchies) {
      stdfs::path dir = h.mount_point / cg.relative_;
      fs::make_dirs(dir);
      if (has_controller(h, "cpuset")) {
        init_cpuset(dir.parent_path());
        init_cpuset(dir);
      }
      if (h.v2 && layout.unified()) enable_v2_controllers(h.mount_point, cg.relative_);
    }
  });
  return cg;
}

PodCgroup PodCgroup::create_under_host_systemd(const Layout& layout, const std::string& relative) {
  PodCgroup cg(layout, relative);
  cg.host_managed_ = true;
  cg.make_host_managed_dirs();
  return cg;
}

void PodCgroup::make_host_managed_dirs() {
  if (layout_.unified()) return;
  with_context("creating the pod's cgroup " + quote(relative_), [&] {
    const std::vector<OwnCgroup> own = own_cgroups();
    for (const auto& h : layout_.hierarchies) {
      if (h.v2 || !managed_by_pod_systemd(h)) continue;
      stdfs::path dir = h.mount_point / relative_;
      // Its parent (the scope's or the unit's directory) is crt's to remove
      // where systemd does not manage that hierarchy: crt makes it there,
      // or finds it made by a crt killed earlier in the unit, and is not in
      // it (systemd puts a unit's processes in the unit's directories).
      stdfs::path parent = dir.parent_path();
      std::error_code ec;
      bool crts = parent != h.mount_point && (!stdfs::exists(parent, ec) || own_cgroup_in(h, own) != parent);
      fs::make_dirs(dir);
      if (crts && std::find(made_parents_.begin(), made_parents_.end(), parent) == made_parents_.end())
        made_parents_.push_back(parent);
    }
  });
}

CgroupEntry PodCgroup::open_entry() const {
  CgroupEntry e;
  if (host_managed_) return e;
  for (const auto& h : layout_.hierarchies) {
    stdfs::path dir = h.mount_point / relative_;
    if (h.v2) {
      e.v2_dir = fs::open_fd(dir, O_PATH | O_DIRECTORY);
      e.v2_procs = fs::open_fd(dir / "cgroup.procs", O_WRONLY);
    } else {
      e.v1_tasks.push_back(fs::open_fd(dir / "tasks", O_WRONLY));
    }
  }
  return e;
}

Forked fork_into(const CgroupEntry& entry) {
  Forked f;
  bool born_in_cgroup = false;
  if (entry.v2_dir) {
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(entry.v2_dir.get());
    f.pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    born_in_cgroup = f.pid >= 0;
    // Only a kernel (or a seccomp filter) without clone3 or its flag falls
    // back; a cgroup that refuses the child (pids.max) refuses it either way.
    if (f.pid < 0 && errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EPERM) return f;
  }
  if (!born_in_cgroup) f.pid = ::fork();
  if (f.pid != 0) return f;
  f.moved = true;
  if (entry.v2_procs && !born_in_cgroup && ::write(entry.v2_procs.get(), "0", 1) != 1) f.moved = false;
  for (const auto& fd : entry.v1_tasks)
    if (::write(fd.get(), "0", 1) != 1) f.moved = false;
  return f;
}

std::string escape_nspawn_path(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::vector<std::string> PodCgroup::nspawn_args() const {
  std::vector<std::string> args;
  if (layout_.unified()) return args;
  for (const auto& h : layout_.hierarchies) {
    if (h.v2 || !managed_by_pod_systemd(h)) continue;
    // nspawn leaves a controller alone when something is already mounted
    // where it would mount it (read-only) itself.
    std::string inside = "/sys/fs/cgroup/" + h.mount_point.filename().string();
    args.push_back("--bind=" + escape_nspawn_path((h.mount_point / relative_).string()) + ":" +
                   escape_nspawn_path(inside));
  }
  if (!args.empty()) args.insert(args.begin(), "--tmpfs=/sys/fs/cgroup");
  return args;
}

namespace {

void kill_procs(const stdfs::path& dir) {
  std::string procs;
  try {
    procs = fs::read_file(dir / "cgroup.procs");
  } catch (const Error&) {
    return;
  }
  std::stringstream ss(procs);
  pid_t pid = 0;
  while (ss >> pid)
    if (pid > 0) ::kill(pid, SIGKILL);
}

}  // namespace

bool PodCgroup::remove() const {
  bool ok = true;
  for (const auto& top : paths()) ok = remove_tree(top) && ok;
  for (const auto& parent : made_parents_) (void)::rmdir(parent.c_str());  // only if empty: else someone else's
  return ok;
}

bool PodCgroup::remove_empty() const {
  bool ok = true;
  for (const auto& top : paths()) ok = remove_empty_tree(top) && ok;
  return ok;
}

bool PodCgroup::remove_empty_v1() const {
  bool ok = true;
  for (const auto& h : layout_.hierarchies)
    if (!h.v2) ok = remove_empty_tree(h.mount_point / relative_) && ok;
  return ok;
}

std::string PodCgroup::identity() const {
  std::string out;
  for (const auto& top : paths())
    if (uint64_t ino = inode_of(top); ino != 0) out += std::to_string(ino) + " " + top.string() + "\n";
  return out;
}

std::vector<stdfs::path> PodCgroup::dirs_of(const std::string& identity) const {
  std::vector<stdfs::path> out;
  const std::vector<stdfs::path> mine = paths();
  std::istringstream lines(identity);
  for (std::string line; std::getline(lines, line);) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    stdfs::path top = line.substr(sp + 1);
    // A path of this cgroup's only: the record is not trusted further.
    if (std::find(mine.begin(), mine.end(), top) == mine.end()) continue;
    if (std::to_string(inode_of(top)) == line.substr(0, sp)) out.push_back(top);  // else gone, or another's
  }
  return out;
}

bool PodCgroup::remove_same(const std::string& identity) const {
  bool ok = true;
  for (const auto& top : dirs_of(identity)) ok = remove_tree(top) && ok;
  return ok;
}

bool PodCgroup::remove_tree(const stdfs::path& top) const {
  if (!stdfs::exists(top)) return true;
  // A pod that ended leaves its cgroup empty: removing it is all there is
  // to do. Under the host's systemd, what is left is its unit's, which
  // systemd stops and removes: crt kills nothing there. Otherwise every
  // directory is swept.
  if (remove_empty_tree(top) || host_managed_) return true;
  std::vector<stdfs::path> dirs;
  collect_dirs(top, dirs);
  for (const auto& d : dirs) kill_procs(d);
  bool ok = true;
  for (const auto& d : dirs) {
    bool removed = false;
    for (int attempt = 0; attempt < 50 && !removed; ++attempt) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) {
        removed = true;
      } else if (errno == EBUSY) {
        kill_procs(d);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        break;
      }
    }
    ok = ok && removed;
  }
  return ok;
}

}  // namespace crt::cgroup
