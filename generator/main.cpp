// crt-generator: turns pod files (crt.pod(5)) into units, as a
// systemd.generator(7): no D-Bus, no other processes, nothing from /var; a
// bad pod file is skipped with one message to /dev/kmsg and never breaks
// the boot.
//
//   crt-generator NORMAL-DIR [EARLY-DIR LATE-DIR]   (run by systemd)
//   crt-generator --dry-run [FILE…]                 (prints what it would write)
//
// CRT_GENERATOR_ROOT replaces "/" as the root pod files are found under.

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "podfile/generate.hpp"

#ifndef CRT_BIN
#define CRT_BIN "/usr/bin/crt"
#endif
// Where the generator and crt are installed, relative to the prefix.
#ifndef CRT_GENERATOR_DIR
#define CRT_GENERATOR_DIR "lib/systemd/system-generators"
#endif
#ifndef CRT_BINDIR
#define CRT_BINDIR "bin"
#endif

namespace {

namespace stdfs = std::filesystem;
using crt::podfile::Generated;

/// Messages go to the kernel log: at boot nothing else is there yet (a long
/// one cut, as the kernel refuses a record of more than about 1 KiB; a pod
/// file's bad bytes in it escaped, wherever it goes). A
/// container has no /dev/kmsg: there they go to the journal when it runs
/// (daemon-reload), else to stderr (sd_journal_send() sends nothing and
/// says nothing where there is no journald to send to).
void log_error(const std::string& message) {
  std::string line = crt::podfile::kmsg_record(message, ::getpid());
  int fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return;
  }
  if (fd >= 0) ::close(fd);
  std::string msg = crt::escape_controls_utf8(message);
  if (::access("/run/systemd/journal/socket", W_OK) == 0 &&
      sd_journal_send("MESSAGE=%s", msg.c_str(), "PRIORITY=%i", LOG_ERR, "SYSLOG_IDENTIFIER=crt-generator", nullptr) >=
          0)
    return;
  std::fprintf(stderr, "crt-generator: %s\n", msg.c_str());
}

/// The crt the units run: the one installed with this generator (under
/// the prefix the generator is in, which `cmake --install --prefix` may
/// have chosen), else the one of the configured prefix.
std::string crt_binary() {
  std::error_code ec;
  stdfs::path dir = stdfs::read_symlink("/proc/self/exe", ec).parent_path();
  stdfs::path generators = CRT_GENERATOR_DIR;
  if (ec || generators.is_absolute()) return CRT_BIN;
  std::vector<stdfs::path> parts(generators.begin(), generators.end());
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (dir.filename() != *it) return CRT_BIN;
    dir = dir.parent_path();
  }
  stdfs::path crt = dir / CRT_BINDIR / "crt";
  return stdfs::exists(crt, ec) ? crt.string() : CRT_BIN;
}

/// The pod files given, or else those found under the root.
Generated generate_from(const std::vector<std::string>& files) {
  if (!files.empty()) return crt::podfile::generate({files.begin(), files.end()}, crt_binary());
  const char* root = std::getenv("CRT_GENERATOR_ROOT");
  return crt::podfile::generate_under(root != nullptr && *root != '\0' ? root : "/", crt_binary());
}

int dry_run(const std::vector<std::string>& files) {
  Generated g = generate_from(files);
  for (const auto& f : g.files) {
    if (f.link.empty())
      std::printf("# %s\n%s\n", f.path.c_str(), f.content.c_str());
    else
      std::printf("# %s -> %s\n\n", f.path.c_str(), f.link.c_str());
  }
  for (const auto& m : g.masked) std::printf("# %s is masked: no unit\n\n", m.c_str());
  for (const auto& e : g.errors) std::fprintf(stderr, "crt-generator: %s\n", crt::escape_controls_utf8(e).c_str());
  return g.errors.empty() ? 0 : crt::kErrorExitCode;
}

void write_output(const stdfs::path& dir, const crt::podfile::OutputFile& f) {
  stdfs::path p = dir / f.path;
  crt::fs::make_dirs(p.parent_path());
  if (!f.link.empty()) {
    ::unlink(p.c_str());
    if (::symlink(f.link.c_str(), p.c_str()) < 0) crt::throw_errno("linking " + crt::quote(p.string()));
    return;
  }
  crt::fs::write_file_atomic(p, f.content, 0644, crt::fs::Durability::kCached);
}

int generate(const stdfs::path& out) {
  Generated g = generate_from({});
  for (const auto& e : g.errors) log_error(e);
  for (const auto& f : g.files) {
    try {
      write_output(out, f);
    } catch (const crt::Error& e) {
      log_error(e.what());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::puts("Usage: crt-generator NORMAL-DIR [EARLY-DIR LATE-DIR]\n"
                "       crt-generator --dry-run [FILE...]\n\n"
                "Turns the pod files in /etc/crt/pods, /run/crt/pods and /usr/lib/crt/pods (crt.pod(5))\n"
                "into crt-NAME.service units. --dry-run prints the units and the errors instead.");
      return 0;
    }
    if (!args.empty() && args[0] == "--dry-run") return dry_run({args.begin() + 1, args.end()});
    if (args.empty() || args.size() > 3) {
      std::fputs("crt-generator: expected the generator output directories, or --dry-run (see --help)\n", stderr);
      return crt::kErrorExitCode;
    }
    return generate(args[0]);
  } catch (const std::exception& e) {
    log_error(e.what());
    return 0;  // never fail the boot
  }
}
