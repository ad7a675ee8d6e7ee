#include "pod/rootfs_lookup.hpp"

#include <elf.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <functional>
#include <initializer_list>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"

namespace crt::pod {

namespace {

/// A line of /etc/passwd or /etc/group, split at its colons.
struct Line {
  size_t number;  ///< from 1, as an editor counts
  std::vector<std::string> fields;
};

/// The lines of `content` but blank ones and '#' comments.
std::vector<Line> lines(std::string_view content) {
  std::vector<Line> out;
  size_t number = 0;
  for (auto& l : split(content, '\n')) {
    ++number;
    if (!l.empty() && l.front() != '#') out.push_back({number, split(l, ':')});
  }
  return out;
}

/// An ID field of a line: where it is and what it is called.
struct IdField {
  size_t index;
  const char* label;
};

/// What makes a line of /etc/passwd or /etc/group malformed (fewer than
/// `fields`, an empty name, an ID that is none), which glibc skips as the
/// lookups here do; empty when nothing.
std::string line_problem(const std::vector<std::string>& f, size_t fields, std::initializer_list<IdField> ids) {
  if (f.size() < fields)
    return "it has " + std::to_string(f.size()) + (f.size() == 1 ? " field" : " fields") + ", not " +
           std::to_string(fields);
  if (f[0].empty()) return "its name is empty";
  for (const IdField& id : ids)
    if (!parse_id(f[id.index]))
      return std::string("its ") + id.label + " " + quote(f[id.index]) + " is not a number from 0 to 4294967294";
  return {};
}

std::string passwd_problem(const std::vector<std::string>& f) { return line_problem(f, 7, {{2, "UID"}, {3, "GID"}}); }
std::string group_problem(const std::vector<std::string>& f) { return line_problem(f, 3, {{2, "GID"}}); }

/// The error for `what` ("user 'app'") missing from the image's `file`
/// ("/etc/passwd"): one that names the malformed line that has its `name`
/// first (which glibc skips too), else that it is not there.
Error not_in_file(const std::string& what, const std::string& name, std::string_view content, const std::string& file,
                  const std::function<std::string(const std::vector<std::string>&)>& problem) {
  for (const auto& l : lines(content))
    if (!l.fields.empty() && l.fields[0] == name)
      if (std::string why = problem(l.fields); !why.empty())
        return Error(what + " is on line " + std::to_string(l.number) + " of the image's " + file +
                     ", which is malformed: " + why);
  return Error(what + " is not in the image's " + file);
}

const std::string* env_value(const EnvList& env, const std::string& key) {
  for (const auto& [k, v] : env)
    if (k == key) return &v;
  return nullptr;
}

void default_env(EnvList& env, const std::string& key, const std::string& value) {
  if (env_value(env, key) == nullptr) env.emplace_back(key, value);
}

}  // namespace

std::optional<uint32_t> parse_id(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == UINT32_MAX) return std::nullopt;
  return v;
}

std::vector<PasswdEntry> parse_passwd(std::string_view content) {
  std::vector<PasswdEntry> out;
  for (auto& [number, f] : lines(content))
    if (passwd_problem(f).empty())
      out.push_back({std::move(f[0]), *parse_id(f[2]), *parse_id(f[3]), std::move(f[5]), std::move(f[6])});
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view content) {
  std::vector<GroupEntry> out;
  for (auto& [number, f] : lines(content)) {
    if (!group_problem(f).empty()) continue;
    GroupEntry g{std::move(f[0]), *parse_id(f[2]), {}};
    if (f.size() >= 4)
      for (auto& m : split(f[3], ','))
        if (!m.empty()) g.members.push_back(std::move(m));
    out.push_back(std::move(g));
  }
  return out;
}

namespace {

/// Digits that are no ID (too large, or (uid_t)-1) are a mistake, not a
/// name to look up.
void check_id(const std::string& value, const char* what) {
  if (!value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      !parse_id(value))
    throw Error(std::string("invalid ") + what + " ID " + quote(value) + ": IDs go from 0 to 4294967294");
}

}  // namespace

void resolve_user(AppManifest& app, std::string_view passwd, std::string_view group) {
  check_id(app.user, "user");
  check_id(app.group, "group");
  auto users = parse_passwd(passwd);
  const PasswdEntry* entry = nullptr;
  if (auto uid = parse_id(app.user)) {
    app.uid = *uid;
    auto it = std::find_if(users.begin(), users.end(), [&](const auto& u) { return u.uid == *uid; });
    if (it != users.end()) entry = &*it;
  } else {
    auto it = std::find_if(users.begin(), users.end(), [&](const auto& u) { return u.name == app.user; });
    if (it == users.end())
      throw not_in_file("user " + quote(app.user), app.user, passwd, "/etc/passwd", passwd_problem);
    entry = &*it;
    app.uid = entry->uid;
  }

  if (app.group.empty()) {
    app.gid = entry != nullptr ? entry->gid : 0;
    if (entry != nullptr)
      for (const auto& g : parse_group(group))
        // 65535 (the 16-bit -1) is a group systemd refuses to run an app in.
        if (g.gid != 65535 && std::find(g.members.begin(), g.members.end(), entry->name) != g.members.end() &&
            std::find(app.supplementary_gids.begin(), app.supplementary_gids.end(), g.gid) ==
                app.supplementary_gids.end())
          app.supplementary_gids.push_back(g.gid);
  } else if (auto gid = parse_id(app.group)) {
    app.gid = *gid;
  } else {
    auto groups = parse_group(group);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.name == app.group; });
    if (it == groups.end())
      throw not_in_file("group " + quote(app.group), app.group, group, "/etc/group", group_problem);
    app.gid = it->gid;
  }

  // systemd refuses a unit with the 16-bit -1 as User=, Group= or
  // SupplementaryGroups=; say so before anything starts.
  auto refuse_65535 = [](uint32_t id, const std::string& what) {
    if (id == 65535) throw Error(what + " cannot run an app: systemd does not accept ID 65535 (the 16-bit -1)");
  };
  auto named = [](const char* kind, const std::string& name) {
    return std::string(kind) + (name.empty() || parse_id(name) ? " ID 65535" : " " + quote(name) + " (ID 65535)");
  };
  refuse_65535(*app.uid, named("user", app.user));
  refuse_65535(*app.gid, app.group.empty() && entry != nullptr
                             ? "the group of user " + quote(entry->name) + " in the image's /etc/passwd (ID 65535)"
                             : named("group", app.group));
  for (auto g : app.supplementary_gids) refuse_65535(g, "supplementary group ID 65535");
  // systemd gives the app its own group (but group 0) and then every
  // supplementary one, repeats included. Its start of the app takes time
  // quadratic in their number (measured: 5,000 groups 3 s, 15,000 30 s,
  // 60,000 past the 90 s start timeout, where the user only read "Failed to
  // start"); the kernel itself allows 65,536 (NGROUPS_MAX).
  size_t groups = app.supplementary_gids.size() + (*app.gid != 0 ? 1 : 0);
  if (groups > kMaxAppGroups) {
    std::string user = entry != nullptr ? quote(entry->name) : "ID " + std::to_string(*app.uid);
    std::string supplementary = std::to_string(app.supplementary_gids.size()) + " supplementary";
    throw Error("the app's user " + user + " would be in " +
                (groups > app.supplementary_gids.size()
                     ? std::to_string(groups) + " groups (its own and " + supplementary + " ones)"
                     : supplementary + " groups") +
                "; crt allows " + std::to_string(kMaxAppGroups) +
                ": the pod's systemd takes longer to start an app the more groups it has (15,000 take half a "
                "minute, some 30,000 its whole start timeout)" +
                (app.group.empty() && entry != nullptr
                     ? "; --group leaves out the groups the image's /etc/group lists the user in"
                     : ""));
  }

  std::string name = entry != nullptr ? entry->name : std::to_string(*app.uid);
  std::string home = entry != nullptr && !entry->home.empty() ? entry->home : (*app.uid == 0 ? "/root" : "/");
  std::string shell = entry != nullptr && !entry->shell.empty() ? entry->shell : "/bin/sh";
  default_env(app.env, "HOME", home);
  default_env(app.env, "USER", name);
  default_env(app.env, "LOGNAME", name);
  default_env(app.env, "SHELL", shell);
}

namespace {

/// Opens the regular file `path` of the rootfs for reading (symlinks
/// resolved inside it); its size in `size`. Only a regular file is opened:
/// a FIFO would block, a device's open could act on the host's device.
UniqueFd open_file_in_root(int root_fd, std::string_view path, off_t& size) {
  std::string what = quote(std::string(path)) + " in the rootfs";
  UniqueFd where = fs::open_in_root(root_fd, path, O_PATH);
  struct stat st {};
  if (::fstat(where.get(), &st) < 0) throw_errno("reading " + what);
  if (!S_ISREG(st.st_mode)) throw Error(what + " is not a regular file");
  size = st.st_size;
  return fs::open_fd("/proc/self/fd/" + std::to_string(where.get()), O_RDONLY | O_NOCTTY | O_NONBLOCK);
}

}  // namespace

std::string read_in_root(int root_fd, std::string_view path) {
  try {
    off_t size = 0;
    UniqueFd fd = open_file_in_root(root_fd, path, size);
    std::string what = quote(std::string(path)) + " in the rootfs";
    // An image's /etc/passwd of gigabytes (zeros compress well) would take
    // the host's memory.
    constexpr off_t kMaxSize = 16 << 20;
    if (size > kMaxSize) throw Error(what + " is larger than 16 MiB");
    return fs::read_fd(fd.get(), what);
  } catch (const SystemError& e) {
    if (e.code() == ENOENT) return {};
    throw;
  }
}

namespace {

/// 0: an executable file; else the errno-like reason it is not.
int check_executable(int root_fd, const std::string& path) {
  try {
    UniqueFd fd = fs::open_in_root(root_fd, path, O_PATH);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return errno;
    if (!S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? EISDIR : EACCES;
    if ((st.st_mode & 0111) == 0) return EACCES;
    return 0;
  } catch (const SystemError& e) {
    return e.code();
  }
}

/// Reads `n` bytes at `offset`, or fewer at the file's end.
std::string read_at(int fd, off_t offset, size_t n) {
  std::string out(n, '\0');
  ssize_t got = ::pread(fd, out.data(), n, offset);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

/// An unsigned integer of `size` bytes at `at` in `b`, in the ELF file's
/// byte order.
uint64_t elf_word(const std::string& b, size_t at, size_t size, bool big_endian) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) {
    auto byte = static_cast<unsigned char>(b[at + (big_endian ? i : size - 1 - i)]);
    v = (v << 8) | byte;
  }
  return v;
}

/// The dynamic loader an ELF file names (PT_INTERP), if any.
std::optional<std::string> elf_interpreter(int fd, const std::string& head) {
  bool is64 = head[EI_CLASS] == ELFCLASS64;
  if (!is64 && head[EI_CLASS] != ELFCLASS32) return std::nullopt;
  bool be = head[EI_DATA] == ELFDATA2MSB;
  if (!be && head[EI_DATA] != ELFDATA2LSB) return std::nullopt;
  size_t ehdr_size = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (head.size() < ehdr_size) return std::nullopt;
  auto word = [&](const std::string& b, size_t at, size_t size) { return elf_word(b, at, size, be); };
  uint64_t phoff = is64 ? word(head, offsetof(Elf64_Ehdr, e_phoff), 8) : word(head, offsetof(Elf32_Ehdr, e_phoff), 4);
  uint64_t phentsize =
      is64 ? word(head, offsetof(Elf64_Ehdr, e_phentsize), 2) : word(head, offsetof(Elf32_Ehdr, e_phentsize), 2);
  uint64_t phnum = is64 ? word(head, offsetof(Elf64_Ehdr, e_phnum), 2) : word(head, offsetof(Elf32_Ehdr, e_phnum), 2);
  size_t phdr_size = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  // As the kernel takes them: entries of the one size, 64 KiB of them at most.
  if (phentsize != phdr_size || phnum * phentsize > 65536 || phoff > static_cast<uint64_t>(INT64_MAX))
    return std::nullopt;
  std::string table = read_at(fd, static_cast<off_t>(phoff), phnum * phentsize);
  for (uint64_t i = 0; i < phnum && (i + 1) * phentsize <= table.size(); ++i) {
    size_t at = i * phentsize;
    if (word(table, at, 4) != PT_INTERP) continue;
    uint64_t offset = is64 ? word(table, at + offsetof(Elf64_Phdr, p_offset), 8)
                           : word(table, at + offsetof(Elf32_Phdr, p_offset), 4);
    uint64_t size = is64 ? word(table, at + offsetof(Elf64_Phdr, p_filesz), 8)
                         : word(table, at + offsetof(Elf32_Phdr, p_filesz), 4);
    if (size < 2 || size > PATH_MAX || offset > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    std::string path = read_at(fd, static_cast<off_t>(offset), size);
    // NUL-terminated, as the kernel requires.
    if (path.size() != size || path.back() != '\0') return std::nullopt;
    path.pop_back();
    return path;
  }
  return std::nullopt;
}

struct Interpreter {
  std::string path;
  bool script = false;  ///< named on a "#!" line, not an ELF binary's loader
};

/// The interpreter the kernel would run the executable file `path` with: a
/// script's "#!" line's, an ELF binary's dynamic loader; nullopt when it
/// names none, or none that is an absolute path (exec itself then says
/// what is wrong).
std::optional<Interpreter> interpreter_of(int root_fd, const std::string& path) {
  std::optional<Interpreter> interpreter;
  try {
    off_t size = 0;
    UniqueFd fd = open_file_in_root(root_fd, path, size);
    // The kernel reads this much of a file to tell what it is.
    constexpr size_t kHead = 256;
    std::string head = read_at(fd.get(), 0, kHead);
    if (head.rfind("#!", 0) == 0) {
      size_t end = head.find('\n');
      if (end == std::string::npos) return std::nullopt;  // a line longer than the kernel reads
      size_t start = head.find_first_not_of(" \t", 2);
      if (start >= end) return std::nullopt;
      interpreter = Interpreter{head.substr(start, head.find_first_of(" \t\n", start) - start), true};
    } else if (head.size() > EI_DATA && head.compare(0, SELFMAG, ELFMAG) == 0) {
      if (auto loader = elf_interpreter(fd.get(), head)) interpreter = Interpreter{*loader, false};
    }
  } catch (const Error&) {
    return std::nullopt;
  }
  if (!interpreter || interpreter->path.empty() || interpreter->path.front() != '/') return std::nullopt;
  return interpreter;
}

/// Finds the binary argv[0] names (resolve_exec()).
void find_exec(AppManifest& app, int root_fd, const std::string& where) {
  const std::string& cmd = app.argv.at(0);
  auto in_rootfs = [&](const std::string& what) { return Error(what + " in " + where); };
  // What no search goes on after (as execvp(3) does): the file system
  // failed, not the lookup.
  auto check_failed = [&](const std::string& path, int err) {
    return in_rootfs("checking " + quote(path) + ": " + std::strerror(err));
  };
  auto not_runnable = [](const std::string& path, int err) {
    return err == EISDIR ? quote(path) + " is a directory, not a binary" : quote(path) + " is not an executable file";
  };
  if (cmd.find('/') != std::string::npos) {
    std::string path = cmd.front() == '/' ? cmd : app.working_dir + "/" + cmd;
    int err = check_executable(root_fd, path);
    if (err == ENOENT || err == ENOTDIR) throw in_rootfs("the binary " + quote(cmd) + " does not exist");
    if (err == EISDIR || err == EACCES) throw in_rootfs(not_runnable(cmd, err));
    if (err != 0) throw check_failed(cmd, err);
    app.exec_path = path;
    return;
  }
  const std::string* path_var = env_value(app.env, "PATH");
  const std::string search = path_var != nullptr ? *path_var : "";
  std::string first_not_runnable;
  for (const auto& dir : split(search, ':')) {
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate = dir + "/" + cmd;
    int err = check_executable(root_fd, candidate);
    if (err == 0) {
      app.exec_path = candidate;
      return;
    }
    if (err == EISDIR || err == EACCES) {
      if (first_not_runnable.empty()) first_not_runnable = not_runnable(candidate, err);
    } else if (err != ENOENT && err != ENOTDIR && err != ELOOP) {
      throw check_failed(candidate, err);
    }
  }
  std::string none = "no binary " + quote(cmd) + " in $PATH (" + search + ")";
  if (!first_not_runnable.empty()) throw in_rootfs(none + ": " + first_not_runnable);
  throw in_rootfs(none);
}

}  // namespace

void resolve_exec(AppManifest& app, int root_fd, const std::string& where) {
  find_exec(app, root_fd, where);
  // A binary whose interpreter is not there fails to start with ENOENT,
  // which systemd words as if the binary itself were missing. Followed as
  // far as the kernel follows interpreters (a script for a shell that
  // lacks its loader).
  std::string chain = quote(app.exec_path);
  std::string path = app.exec_path;
  for (int depth = 0; depth < 4; ++depth) {
    std::optional<Interpreter> interpreter = interpreter_of(root_fd, path);
    if (!interpreter) return;
    chain += (depth > 0 ? ", which" : "") + (interpreter->script
                                                 ? " is a script for " + quote(interpreter->path) + " (its #! line)"
                                                 : " needs the dynamic loader " + quote(interpreter->path));
    int err = check_executable(root_fd, interpreter->path);
    if (err == ENOENT || err == ENOTDIR) {
      bool crlf = interpreter->script && interpreter->path.back() == '\r';
      throw Error(chain + ", which does not exist in " + where +
                  (crlf ? " (the line ends in a carriage return: Windows line endings?)" : ""));
    }
    if (err != 0) return;
    path = interpreter->path;
  }
}

}  // namespace crt::pod
