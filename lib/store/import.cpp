#include "store/import.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/ascii.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::store {

namespace {

/// Copies standard input to an unnamed file in `tmp` (on a file system
/// without O_TMPFILE, one unlinked as soon as it is made), which then
/// becomes standard input: /dev/stdin opens it again from its start, as
/// often as the archive is read. Reads wait at most 100 ms at a time, so a
/// cancel is seen while the writer is idle.
void spool_stdin(const std::filesystem::path& tmp, const std::function<bool()>& cancelled) {
  if (::isatty(STDIN_FILENO) == 1) throw Error("not reading an archive from a terminal: pipe one in, or give a file");
  UniqueFd file = fs::open_unnamed(tmp, O_RDWR, 0600, "making a file in " + quote(tmp.string()));
  if (!file) {
    std::string name = (tmp / ("stdin-" + fs::random_suffix())).string();
    file = UniqueFd(::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!file) throw_errno("creating " + quote(name));
    ::unlink(name.c_str());
  }
  std::string buf(1 << 20, '\0');
  bool empty = true;
  for (;;) {
    if (cancelled && cancelled()) throw Error("interrupted");
    pollfd p{STDIN_FILENO, POLLIN, 0};
    int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) throw_errno("waiting for standard input");
    if (ready <= 0) continue;
    ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) throw_errno("reading standard input");
    if (n == 0) break;
    empty = false;
    fs::write_all(file.get(), std::string_view(buf.data(), static_cast<size_t>(n)),
                  "copying standard input to " + quote(tmp.string()));
  }
  if (empty) throw Error("standard input is empty: pipe an archive in");
  if (::dup2(file.get(), STDIN_FILENO) < 0) throw_errno("replacing standard input");
}

}  // namespace

std::vector<Image> import_images(Store& store, const ImportRequest& req_in, Progress& progress) {
  ImportRequest req = req_in;
  bool from_stdin = req.source == kStdin;
  auto source_name = [&] { return from_stdin ? std::string("standard input") : quote(req.source.string()); };
  // Before standard input is read: refused all the same afterwards.
  with_context("importing " + source_name(), [&] { check_utf8(req.rootfs.config); });
  if (from_stdin) {
    if (req.format == SourceFormat::kOciLayout)
      throw Error("an OCI layout is a directory: standard input can only give an archive");
    spool_stdin(store.root() / "tmp", req.cancelled);
    req.source = "/dev/stdin";
  }
  SourceFormat f = req.format ? *req.format : detect_format(req.source);
  const RunConfig& c = req.rootfs.config;
  if (f != SourceFormat::kRootfs && (!c.cmd.empty() || !c.entrypoint.empty() || !c.env.empty() ||
                                     !c.working_dir.empty() || !c.user.empty() || !c.volumes.empty()))
    throw Error("importing " + source_name() + " (" + format_name(f) +
                "): --cmd, --entrypoint, --env, --workdir, --user and --volume configure a rootfs; an image of a "
                "layout or archive has its configuration");
  if (f == SourceFormat::kRootfs) {
    if (!req.name)
      throw Error("importing " + std::string(from_stdin ? "a rootfs from " : "the rootfs ") + source_name() +
                  ": give the image a NAME");
    Store::ImportOptions opts = req.rootfs;
    opts.cancelled = req.cancelled;
    return {store.import_rootfs(req.source, *req.name, opts, req.pinned)};
  }
  // A layout's image named by a tag alone is named after the layout; an
  // archive's after its file, without the archive's extensions
  // (app.oci.tar.gz: app).
  auto layout_name = [](const std::filesystem::path& source) {
    std::filesystem::path p = source.lexically_normal();
    std::string name = ascii_lower((p.has_filename() ? p : p.parent_path()).filename().string());
    if (std::filesystem::is_directory(source)) return name;
    for (bool cut = true; cut;) {
      cut = false;
      for (std::string_view ext : {".gz", ".tgz", ".zst", ".xz", ".tar", ".oci"})
        if (name.size() > ext.size() && name.ends_with(ext)) {
          name.resize(name.size() - ext.size());
          cut = true;
        }
    }
    return name;
  };
  return with_context("importing " + source_name() + " (" + format_name(f) + ")", [&] {
    std::unique_ptr<LayoutFiles> files;
    if (f == SourceFormat::kOciLayout)
      files = std::make_unique<DirectoryFiles>(req.source);
    else
      files = std::make_unique<ArchiveFiles>(req.source);
    // What was recognized as a layout or archive by its files may be a
    // rootfs that holds such files: one whose files do not name each other
    // says how to import it as a rootfs.
    if (!req.format) {
      try {
        check_image_files(*files, f);
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + "; if " + (f == SourceFormat::kOciLayout ? "it" : "the archive") +
                    " is a root file system, --format=rootfs imports it as one");
      }
    }
    std::vector<ImageInput> inputs =
        f == SourceFormat::kDockerArchive
            ? read_docker_archive(*files, req.name, req.name_key)
            : read_oci_layout(*files, from_stdin ? "" : layout_name(req.source), req.name, req.platform, req.name_key);
    for (auto& in : inputs) in.cancelled = req.cancelled;
    return store.commit_images(inputs, progress, req.pinned);
  });
}

}  // namespace crt::store
