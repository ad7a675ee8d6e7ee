#include "store/export.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "store/archive_util.hpp"
#include "store/digest.hpp"
#include "store/layer_import.hpp"
#include "store/layout_files.hpp"
#include "store/oci.hpp"
#include "store/work_dir.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

/// A tar being written to a file descriptor.
class TarWriter {
 public:
  explicit TarWriter(int fd) : a_(sym_archive_write_new()) {
    check_archive(a_.get(), sym_archive_write_set_format_pax_restricted(a_.get()), "setting up the archive");
    check_archive(a_.get(), sym_archive_write_set_bytes_in_last_block(a_.get(), 1), "setting up the archive");
    check_archive(a_.get(), sym_archive_write_open_fd(a_.get(), fd), "opening the archive");
  }

  void dir(const std::string& path) { header(path, AE_IFDIR, 0755, 0); }

  void file(const std::string& path, std::string_view data) {
    header(path, AE_IFREG, 0644, data.size());
    write(data.data(), data.size());
  }

  /// A file copied from `fd`, open on `src` (which must hold exactly
  /// `size` bytes); `checkpoint` (if set) before each MiB. Returns the
  /// digest of what it copied.
  std::string file_from(const std::string& path, int fd, const stdfs::path& src, uint64_t size,
                        const std::function<void()>& checkpoint) {
    header(path, AE_IFREG, 0644, size);
    std::vector<char> buf(1 << 20);
    Sha256 hash;
    uint64_t left = size;
    while (left > 0) {
      if (checkpoint) checkpoint();
      ssize_t n = ::read(fd, buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("reading " + quote(src.string()));
      if (n == 0) throw Error(quote(src.string()) + " is shorter than expected");
      hash.update(buf.data(), static_cast<size_t>(n));
      write(buf.data(), static_cast<size_t>(n));
      left -= static_cast<uint64_t>(n);
    }
    return "sha256:" + hash.hex();
  }

  void close() {
    closed_ = true;
    check_archive(a_.get(), sym_archive_write_close(a_.get()), "finishing the archive");
  }

  // Not closed: an error cut it short. Freeing it would pad the entry cut
  // short and end the tar well-formed, which a reader of stdout would take
  // for a whole archive.
  ~TarWriter() {
    if (!closed_) sym_archive_write_fail(a_.get());
  }
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

 private:
  void header(const std::string& path, unsigned type, mode_t mode, uint64_t size) {
    EntryPtr e(sym_archive_entry_new());
    sym_archive_entry_set_pathname(e.get(), path.c_str());
    sym_archive_entry_set_filetype(e.get(), type);
    sym_archive_entry_set_perm(e.get(), mode);
    sym_archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    check_archive(a_.get(), sym_archive_write_header(a_.get(), e.get()), "writing " + quote(path));
  }
  void write(const void* p, size_t n) {
    if (sym_archive_write_data(a_.get(), p, n) < 0) check_archive(a_.get(), ARCHIVE_FATAL, "writing the archive");
  }

  ArchivePtr a_;
  bool closed_ = false;
};

uint64_t size_of(int fd, const stdfs::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) throw_errno("inspecting " + quote(p.string()));
  return static_cast<uint64_t>(st.st_size);
}

/// Writes the bytes a TarOutput receives to `fd`, after `checkpoint`.
TarOutput to_fd(int fd, const stdfs::path& p, const std::function<void()>& checkpoint) {
  return [fd, p, &checkpoint](const void* d, size_t n) {
    if (checkpoint) checkpoint();
    fs::write_all(fd, {static_cast<const char*>(d), n}, "writing " + quote(p.string()));
  };
}

/// The archive's file while it is written: unnamed (O_TMPFILE) where the
/// file system allows, so that nothing of it stays however crt ends, else
/// under a hidden name of its own beside OUT (two exports to one OUT never
/// share a file). It becomes OUT once complete.
class ArchiveFile {
 public:
  ArchiveFile(stdfs::path out, Replace replace, mode_t mode) : out_(std::move(out)) {
    check_archive_target(out_, replace);
    stdfs::path dir = out_.has_parent_path() ? out_.parent_path() : stdfs::path(".");
    fd_ = fs::open_unnamed(dir, O_WRONLY, mode, "creating " + quote(out_.string()));
    if (!fd_) {
      temp_ = fresh_name("creating", [&](const std::string& name) {
        fd_ = UniqueFd(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        return fd_.valid();
      });
    }
  }
  ArchiveFile(const ArchiveFile&) = delete;
  ArchiveFile& operator=(const ArchiveFile&) = delete;
  ~ArchiveFile() {
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }

  [[nodiscard]] int fd() const { return fd_.get(); }

  /// Names it OUT; an OUT made meanwhile is replaced only with kYes.
  void commit(Replace replace) {
    if (temp_.empty()) {
      std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
      auto link_as = [&](const std::string& name) {
        return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0;
      };
      if (replace == Replace::kNo) {
        if (!link_as(out_)) fail_naming();
        return;
      }
      temp_ = fresh_name("linking", link_as);
    }
    if (replace == Replace::kYes) {
      // What came meanwhile is replaced only if it is a regular file.
      check_archive_target(out_, Replace::kYes);
      if (::rename(temp_.c_str(), out_.c_str()) < 0)
        throw_errno("renaming " + quote(temp_) + " to " + quote(out_.string()));
    } else if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, out_.c_str(), RENAME_NOREPLACE) < 0) {
      // A file system without RENAME_NOREPLACE: a link cannot replace either.
      if (errno != EINVAL || ::link(temp_.c_str(), out_.c_str()) < 0) fail_naming();
      ::unlink(temp_.c_str());
    }
    temp_.clear();
  }

 private:
  [[noreturn]] void fail_naming() const {
    if (errno == EEXIST) throw Error(quote(out_.string()) + " exists (--overwrite replaces it)");
    throw_errno("naming " + quote(out_.string()));
  }

  /// A hidden name beside OUT that `make` could take (it fails with EEXIST
  /// for a name in use); `doing` says what `make` does, for errors.
  std::string fresh_name(const char* doing, const std::function<bool(const std::string&)>& make) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string name =
          (out_.parent_path() / ("." + out_.filename().string() + ".crt-tmp." + fs::random_suffix())).string();
      if (make(name)) return name;
      if (errno != EEXIST) throw_errno(std::string(doing) + " " + quote(name));
    }
    throw Error("no free temporary name beside " + quote(out_.string()));
  }

  stdfs::path out_;
  UniqueFd fd_;
  std::string temp_;  ///< its name while it has one, and is not yet OUT
};

/// How an image whose layer blob is damaged or missing is made whole: the
/// blob is stored again, checked, by the next import or pull of it (or of
/// any image that has the blob).
std::string repair_hint(const Image& im) {
  std::string ref = im.names.empty() ? "image " + im.id : quote(im.names.front());
  return "import or pull " + ref + " again to repair it";
}

}  // namespace

void check_archive_target(const stdfs::path& out, Replace replace) {
  if (out == kStdout) {
    if (::isatty(STDOUT_FILENO) == 1)
      throw Error("not writing an archive to a terminal: redirect stdout, or give a file");
    return;
  }
  if (!fs::check_replaceable(out, "an archive")) return;
  if (replace == Replace::kNo) throw Error(quote(out.string()) + " exists (--overwrite replaces it)");
}

void export_oci_archive(const Store& store, const Image& im, const stdfs::path& out, const std::string& ref_name,
                        const std::optional<AddedLayer>& changes, const std::function<void()>& checkpoint,
                        Replace replace, mode_t mode) {
  bool to_stdout = out == kStdout;
  // An image by the name it was asked for (a pod's by the ID of its app's
  // image, which the archive's new image is not).
  const std::string shown = !changes && !ref_name.empty() ? quote(ref_name) : im.id;
  with_context("exporting " + shown + " to " + (to_stdout ? std::string("stdout") : quote(out.string())), [&] {
    std::string config = store.config_blob(im);
    // First, so that an OUT that cannot be made (no such directory, no room
    // for a name, no permission) is said before any layer is built.
    if (to_stdout) check_archive_target(out, replace);
    std::optional<ArchiveFile> file;
    if (!to_stdout) file.emplace(out, replace, mode);
    int out_fd = to_stdout ? STDOUT_FILENO : file->fd();
    // What a killed export (or import) left there: an earlier export's
    // layer of a pod's changes is as big as they are. Running ones' work
    // is locked, and stays.
    remove_abandoned_work(store.root() / "tmp");
    WorkDir work(store.root() / "tmp", "export");
    // Layers: the blobs the image came with, or (rootfs imports) its tree
    // written as the canonical tar whose digest is the diff_id. Each is
    // held open from here on: the bytes copied are those sized, and a
    // stored blob found damaged is told by its inode from a copy stored
    // meanwhile.
    struct Layer {
      std::string digest;
      std::string media_type;
      stdfs::path path;
      UniqueFd fd;
      uint64_t size;
      bool stored;  ///< a blob of the store (not a tree archived here)
    };
    std::vector<Layer> layers;
    auto add = [&](std::string digest, std::string media_type, stdfs::path p, bool stored) {
      UniqueFd fd = fs::open_fd(p, O_RDONLY);
      uint64_t size = size_of(fd.get(), p);
      layers.push_back({std::move(digest), std::move(media_type), std::move(p), std::move(fd), size, stored});
    };
    for (size_t i = 0; i < im.layers.size(); ++i) {
      if (i < im.blobs.size() && store.blobs().has(im.blobs[i].digest)) {
        add(im.blobs[i].digest, im.blobs[i].media_type, store.blobs().path(im.blobs[i].digest), true);
        continue;
      }
      // The image's own manifest names the blob: no other layer can stand in
      // for it. A pod's export writes a manifest of its own, in which the
      // layer's tree, archived, does.
      if (i < im.blobs.size() && !changes)
        throw Error("layer blob " + im.blobs[i].digest + " is missing from the store; " + repair_hint(im));
      stdfs::path p = work.path() / ("layer" + std::to_string(i));
      {
        UniqueFd fd = fs::open_fd(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        UnpackedLayer l = archive_tree(store.tree_path(im.layers[i]), to_fd(fd.get(), p, checkpoint));
        if (l.diff_id != im.layers[i])
          throw Error("the tree of layer " + im.layers[i] + " no longer matches it (it archives as " + l.diff_id + ")");
      }
      add(im.layers[i], std::string(oci::kLayerTar), p, false);
    }
    std::string manifest;
    std::string config_digest = im.id;
    if (changes) {
      stdfs::path p = work.path() / "changes";
      UnpackedLayer l;
      {
        UniqueFd fd = fs::open_fd(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        l = archive_overlay_upper(changes->upper, to_fd(fd.get(), p, checkpoint), changes->leave_out);
        if (::fsync(fd.get()) < 0) throw_errno("syncing " + quote(p.string()));
      }
      add(l.diff_id, std::string(oci::kLayerTar), p, false);
      json c = json_text::parse(config);
      std::string now = changes->created.empty() ? now_rfc3339(false) : changes->created;
      c["created"] = now;
      c["rootfs"]["diff_ids"].push_back(l.diff_id);
      if (!c.contains("history") || !c["history"].is_array()) c["history"] = json::array();
      // One entry per layer (those not marked empty_layer), as tools pair
      // them: the image's layers get a blank one each where it has none.
      size_t described = 0;
      for (const auto& h : c["history"])
        if (!h.is_object() || !h.value("empty_layer", false)) ++described;
      for (size_t i = described; i + 1 < layers.size(); ++i) c["history"].push_back({{"created_by", ""}});
      c["history"].push_back({{"created", now}, {"created_by", changes->created_by}});
      config = json_text::dump(c);
      config_digest = sha256_digest(config);
    }
    if (!changes && !im.manifest.empty() && store.blobs().has(im.manifest)) {
      manifest = store.blobs().get(im.manifest, 4 << 20);
    } else {
      oci::Manifest m;
      m.media_type = std::string(oci::kImageManifest);
      m.config = {std::string(oci::kImageConfig), config_digest, static_cast<int64_t>(config.size()), std::nullopt, {}};
      for (const auto& l : layers)
        m.layers.push_back({l.media_type, l.digest, static_cast<int64_t>(l.size), std::nullopt, {}});
      manifest = oci::serialize(m);
    }
    std::string manifest_digest = sha256_digest(manifest);
    oci::Descriptor md{oci::document_media_type(json_text::parse(manifest)),
                       manifest_digest,
                       static_cast<int64_t>(manifest.size()),
                       std::nullopt,
                       {}};
    if (!ref_name.empty()) md.annotations[std::string(oci::kRefNameAnnotation)] = ref_name;
    json index = {{"schemaVersion", 2}, {"mediaType", oci::kImageIndex}, {"manifests", json::array({oci::to_json(md)})}};

    TarWriter tar(out_fd);
    tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    tar.file("index.json", json_text::dump(index));
    tar.dir("blobs");
    tar.dir("blobs/sha256");
    std::set<std::string> written;
    auto blob = [&](const std::string& digest, std::string_view data) {
      if (written.insert(digest).second) tar.file(layout_blob_path(digest), data);
    };
    blob(manifest_digest, manifest);
    blob(config_digest, config);
    for (const auto& l : layers) {
      if (!written.insert(l.digest).second) continue;
      // A stored blob is checked as it is copied: one damaged on disk would
      // otherwise go out under a digest it no longer has. An error leaves
      // the archive unfinished, so no damaged archive is ever named OUT.
      std::string got = tar.file_from(layout_blob_path(l.digest), l.fd.get(), l.path, l.size, checkpoint);
      if (got == l.digest) continue;
      if (!l.stored) throw Error("layer " + l.digest + " changed as it was archived: its content is " + got);
      std::string found = "layer blob " + l.digest + " in the store is corrupt: its content is " + got;
      // Taken out, the blob is stored again by the next import or pull
      // that has it; left, it would be trusted as it is, its image pairing
      // it with its layer's tree already.
      if (store.blobs().remove_damaged(l.digest, l.fd.get()))
        throw Error(found + "; removed the damaged blob: " +
                    (changes ? "export again (the layer's tree stands in for it); " : "") + repair_hint(im));
      throw Error(found + "; another crt has stored it anew since: export again");
    }
    if (checkpoint) checkpoint();
    tar.close();
    if (file) {
      if (::fsync(out_fd) < 0) throw_errno("syncing " + quote(out.string()));
      file->commit(replace);
    }
  });
}

}  // namespace crt::store
