#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace crt::cgroup {

/// One mounted cgroup hierarchy of the host.
struct Hierarchy {
  std::filesystem::path mount_point;     ///< e.g. /sys/fs/cgroup/memory
  std::vector<std::string> controllers;  ///< v1 controllers; "name=systemd"; empty for v2
  bool v2 = false;
};

/// The host's cgroup hierarchies: cgroup2 alone (unified), v1 controllers
/// with a cgroup2 beside them (hybrid), or v1 only (legacy).
struct Layout {
  std::vector<Hierarchy> hierarchies;
  [[nodiscard]] bool unified() const { return hierarchies.size() == 1 && hierarchies[0].v2; }
};

/// Reads the layout from /proc/self/mountinfo (libmount).
Layout detect_layout();
/// Parses a mountinfo text (for tests).
Layout parse_layout(const std::string& mountinfo);

/// A line of /proc/self/cgroup: a hierarchy's controllers ("cpu",
/// "cpuacct"; "name=systemd"; none for cgroup2) and this process's cgroup
/// in it ("/a/b").
struct OwnCgroup {
  std::vector<std::string> controllers;
  std::string path;
  [[nodiscard]] bool v2() const { return controllers.empty(); }
};
/// The lines of /proc/self/cgroup; none where it cannot be read.
std::vector<OwnCgroup> own_cgroups();

/// The error for a pod whose machine name a running machine has.
Error machine_name_taken(const std::string& machine_name);

/// What a new process needs to start in a cgroup without waiting. Writing
/// a PID to cgroup.procs takes the kernel's global threadgroup lock for
/// writing, which waits for an RCU grace period (5-20 ms here). A process
/// cloned into the cgroup2 directory (clone3 CLONE_INTO_CGROUP), which then
/// moves its only thread ("0") through each v1 hierarchy's `tasks` file,
/// does not (on recent kernels; older ones take the lock there too).
struct CgroupEntry {
  UniqueFd v2_dir;    ///< the cgroup2 directory (O_PATH), for clone3
  UniqueFd v2_procs;  ///< its cgroup.procs, for kernels without clone3
  std::vector<UniqueFd> v1_tasks;  ///< the child writes "0" to each
};

/// What fork_into() gives: the child's PID (0 in the child, -1 on failure),
/// and in the child whether it got into every cgroup.
struct Forked {
  pid_t pid = -1;
  bool moved = false;
};

/// fork(), with the child starting in `entry`'s cgroups: born in the cgroup2
/// directory where the kernel can (where it has no clone3 or no
/// CLONE_INTO_CGROUP, the child writes itself to cgroup.procs), then moved
/// through each v1 `tasks` file. Without a cgroup2 directory, a plain fork.
/// The child is a copy of this process as after fork(), without glibc's
/// fork handlers: it must only make async-signal-safe calls (and fork with
/// _Fork(), not fork()).
Forked fork_into(const CgroupEntry& entry);

/// The cgroup of a pod, under machine.slice like a machined-registered
/// container: machine.slice/machine-crt\x2d<uuid>.scope in every hierarchy.
class PodCgroup {
 public:
  /// The scope of machine `machine_name`, as machined names it:
  /// "machine-crt\\x2d<uuid>.scope".
  static std::string scope_name(const std::string& machine_name);
  /// The relative path of machine `machine_name`'s cgroup: its scope in machine.slice.
  static std::string relative_path(const std::string& machine_name);

  /// Creates the cgroup in every hierarchy (cpuset initialized, v2
  /// controllers enabled down to it).
  static PodCgroup create(const Layout& layout, const std::string& machine_name);

  /// On a host run by systemd, the pod's cgroup is systemd's (the scope crt
  /// makes or the unit crt runs in): only the v1 controller directories the
  /// pod's systemd needs are made, for nspawn_args(); nothing is moved or killed.
  static PodCgroup create_under_host_systemd(const Layout& layout, const std::string& relative);

  /// Makes those v1 directories again once crt has made the pod's scope:
  /// systemd removes the ones of controllers it does not delegate (blkio)
  /// when it sets the scope up. Made only then, the cpu ones leave the
  /// scope without CPU figures in systemd-cgtop (seen in the host test).
  void make_host_managed_dirs();

  /// Refers to an existing pod cgroup (for cleanup).
  PodCgroup(Layout layout, std::string relative) : layout_(std::move(layout)), relative_(std::move(relative)) {}

  /// How nspawn's process starts in the pod's cgroup (see CgroupEntry). Empty when
  /// the host's systemd places the pod.
  [[nodiscard]] CgroupEntry open_entry() const;

  /// Whether the host's systemd places the pod (create_under_host_systemd).
  [[nodiscard]] bool host_managed() const { return host_managed_; }

  /// nspawn arguments giving the pod's systemd write access to its own part
  /// of the v1 controllers (memory, cpu, pids …), so MemoryMax= and
  /// CPUQuota= work on hybrid and legacy hosts. Empty on unified hosts,
  /// where nspawn delegates the subtree itself.
  [[nodiscard]] std::vector<std::string> nspawn_args() const;

  /// Kills whatever is left in the cgroup and removes it, deepest first.
  /// Returns false if something could not be removed (and should be retried).
  /// Under the host's systemd it only removes what is empty, and returns
  /// true; with it the empty parents make_host_managed_dirs() took for
  /// crt's.
  bool remove() const;

  /// Removes its directories where they are empty (no process in them or
  /// below), in every hierarchy; kills nothing. True if none is left.
  bool remove_empty() const;

  /// Removes its empty directories in the v1 hierarchies: for what is left
  /// once the host's systemd has removed the pod's scope (that of a
  /// controller it does not manage, made by make_host_managed_dirs()).
  /// Kills nothing; false if some are left.
  bool remove_empty_v1() const;

  /// What tells this pod's cgroup directories from those a later pod of the
  /// same machine name makes at the same paths: "INODE PATH" lines, of the
  /// directories there are. Kept in the pod's directory for remove_same().
  [[nodiscard]] std::string identity() const;
  /// The directories `identity` names that are still the same ones (not
  /// removed, nor made anew by another pod of the same name).
  [[nodiscard]] std::vector<std::filesystem::path> dirs_of(const std::string& identity) const;
  /// remove() of dirs_of(identity): another pod's are left alone.
  bool remove_same(const std::string& identity) const;

  [[nodiscard]] const std::string& relative() const { return relative_; }
  [[nodiscard]] std::vector<std::filesystem::path> paths() const;

 private:
  Layout layout_;
  std::string relative_;
  bool host_managed_ = false;
  /// The parents of its v1 directories make_host_managed_dirs() took for
  /// crt's to remove. (A scope's, once systemd has made it, are systemd's:
  /// crt run no longer removes the pod's cgroup then.)
  std::vector<std::filesystem::path> made_parents_;

  bool remove_tree(const std::filesystem::path& top) const;
};

/// Escapes a path for nspawn's --bind=SRC:DST syntax.
std::string escape_nspawn_path(const std::string& path);

}  // namespace crt::cgroup
