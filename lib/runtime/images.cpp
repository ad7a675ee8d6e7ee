#include "runtime/images.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "config/crt_conf.hpp"
#include "pod/units.hpp"
#include "store/archive_util.hpp"
#include "store/digest.hpp"

namespace crt::runtime {

namespace stdfs = std::filesystem;

stdfs::path default_data_dir() {
  std::error_code ec;
  stdfs::path exe = stdfs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("finding crt's own path: " + ec.message());
  return data_dir_of(exe);
}

stdfs::path data_dir_of(const stdfs::path& crt) { return crt.parent_path().parent_path() / "lib" / "crt"; }

namespace {

std::string file_sha256_hex(const stdfs::path& p) {
  UniqueFd fd = fs::open_fd(p, O_RDONLY);
  store::Sha256 h;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) throw_errno("reading " + quote(p.string()));
    if (n == 0) break;
    h.update(buf, static_cast<size_t>(n));
  }
  return h.hex();
}

/// stage1 is made of the host's systemd and libraries: where its files are
/// the host's, the store links them, and pods share their page cache.
/// `source`: what it is imported from (Image::stage1_source).
store::Store::ImportOptions stage1_import_options(const std::string& source) {
  return {{}, "1970-01-01T00:00:00Z", stdfs::path("/"), {}, source};
}

/// What every stage1 has, relative to its root: crt's helper that
/// prepares each app's rootfs.
std::string stage1_mark() { return std::string(pod::kStage1HelperDir).substr(1) + "/prepare-app"; }

/// Refuses a rootfs (a directory or a tarball) that is no stage1 before it
/// is stored: else it would fail as nspawn's boot, the image left behind.
void check_stage1_source(const stdfs::path& src) {
  const std::string mark = stage1_mark();
  bool found = false;
  if (stdfs::is_directory(src)) {
    std::error_code ec;
    found = stdfs::exists(src / mark, ec);
  } else {
    store::ArchivePtr in = store::open_tar_file(src);
    archive_entry* e = nullptr;
    for (;;) {
      int rc = store::sym_archive_read_next_header(in.get(), &e);
      if (rc == ARCHIVE_EOF) break;
      store::check_archive(in.get(), rc, "reading " + quote(src.string()));
      if (store::clean_entry_path(store::sym_archive_entry_pathname(e)) == mark) {
        found = true;
        break;
      }
    }
  }
  if (!found) throw Error(quote(src.string()) + " is no crt stage1: it has no /" + mark);
}

/// The sha256 (hex) a stage1 tarball is stored by: its .sha256 file's (the
/// build writes one, so a start need not hash 25 MB), else its own.
std::string stage1_tar_hex(const stdfs::path& tar) {
  stdfs::path digest_file = tar.string() + ".sha256";
  std::error_code ec;
  std::string hex = stdfs::exists(digest_file, ec) ? trim_end(fs::read_file(digest_file), " \n") : file_sha256_hex(tar);
  if (!store::is_sha256_digest("sha256:" + hex)) throw Error(quote(digest_file.string()) + " holds no sha256 digest");
  return hex;
}

/// The store name of the stage1 tarball of sha256 `hex`.
store::Reference stage1_tar_name(const std::string& hex) {
  return {std::string(store::kStage1Name), hex.substr(0, 12)};
}

/// The image of the stage1 tarball `tar` of sha256 `hex`, imported unless
/// the store has the one crt imported from it. An image under its name that
/// is not that one (an older crt let any import take the name) is never
/// booted: the tarball is imported again, and takes the name from it.
store::Image import_stage1_tar(store::Store& store, const stdfs::path& tar, const std::string& hex, bool given,
                               const MessageSink& messages) {
  store::Reference name = stage1_tar_name(hex);
  std::string source = "sha256:" + hex;
  std::optional<store::Image> found = store.find(name.str());
  // Read from the index, which every start reads anyway: no hashing.
  if (found && found->stage1_source == source) return *found;
  std::string actual = file_sha256_hex(tar);
  if (actual != hex)
    throw Error("stage1 image " + quote(tar.string()) + " is corrupt: sha256 " + actual + ", expected " + hex);
  if (given) check_stage1_source(tar);
  store::Image im = store.import_rootfs(tar, name, stage1_import_options(source));
  // The same image, imported by a crt that did not record its source, is
  // no cause for alarm.
  if (found && found->id != im.id) {
    std::string shown = quote(tar.string());
    tell(messages, "warning: image " + found->id + ", which the store had under " + quote(name.str()) +
                       ", the name of the stage1 in " + shown +
                       ", is not that stage1 (an older crt let an import take the name): imported " + shown +
                       " again under the name; the other image stays in the store without it ('crt image rm " +
                       found->id + "' removes it)");
  }
  return im;
}

}  // namespace

store::Image ensure_stage1(store::Store& store, const stdfs::path& data_dir, const std::optional<stdfs::path>& override,
                           const MessageSink& messages) {
  return with_context("loading the stage1 image", [&]() -> store::Image {
    stdfs::path src = override ? *override : data_dir / "stage1.tar";
    // The hint is for the default missing (crt not installed in full); a
    // path given is wrong as it stands.
    if (!stdfs::exists(src))
      throw Error(quote(src.string()) + " does not exist" + (override ? "" : " (use --stage1-path)"));
    if (stdfs::is_directory(src)) {
      check_stage1_source(src);
      return store.import_rootfs(src, {std::string(store::kStage1Name), "dir"},
                                 stage1_import_options(stdfs::absolute(src).string()));
    }
    return import_stage1_tar(store, src, stage1_tar_hex(src), override.has_value(), messages);
  });
}

std::vector<std::string> other_stage1_images(const store::Store& store, const stdfs::path& data_dir) {
  // This build's, named as ensure_stage1() names it; none (no stage1.tar):
  // which is this build's cannot be told, and none is taken.
  stdfs::path tar = data_dir / "stage1.tar";
  std::error_code ec;
  if (!stdfs::exists(tar, ec)) return {};
  std::string own = stage1_tar_name(stage1_tar_hex(tar)).str();
  std::vector<std::string> out;
  for (const auto& im : store.list()) {
    bool stage1 = !im.names.empty() && std::all_of(im.names.begin(), im.names.end(), [](const std::string& n) {
      return n.starts_with(store::kStage1Name) && n.substr(store::kStage1Name.size(), 1) == ":";
    });
    if (stage1 && std::find(im.names.begin(), im.names.end(), own) == im.names.end()) out.push_back(im.id);
  }
  return out;
}

std::optional<store::Image> import_builtin(store::Store& store, const std::string& name, const stdfs::path& data_dir) {
  stdfs::path tar = data_dir / "images" / (name + ".tar");
  stdfs::path meta = data_dir / "images" / (name + ".json");
  if (!stdfs::exists(tar) || !stdfs::exists(meta)) return std::nullopt;
  return with_context("importing the built-in image " + quote(name), [&] {
    nlohmann::json j = json_text::parse(fs::read_file(meta));
    store::Store::ImportOptions opts;
    opts.config = store::parse_run_config(j);
    opts.created = j.value("created", "");
    return store.import_rootfs(tar, store::parse_reference(name), opts);
  });
}

namespace {

/// Whether `ref` could name a built-in image: NAME or NAME:latest, no
/// registry or path.
bool is_builtin_name(const std::string& ref) {
  if (ref.rfind("sha256:", 0) == 0 || ref.find('@') != std::string::npos) return false;
  // No name (an image ID of 64 hex digits, or nothing at all): the store says which.
  auto r = store::try_parse_reference(ref);
  return r && r->tag == "latest" && r->name.find('/') == std::string::npos;
}

}  // namespace

bool is_builtin_image(const std::string& name_tag, const stdfs::path& data_dir) {
  return is_builtin_name(name_tag) &&
         stdfs::exists(data_dir / "images" / (store::parse_reference(name_tag).name + ".json"));
}

std::vector<std::string> import_missing_builtins(store::Store& store, const stdfs::path& data_dir) {
  std::vector<std::string> failed;
  std::error_code ec;
  for (auto it = stdfs::directory_iterator(data_dir / "images", ec); !ec && it != stdfs::directory_iterator(); ++it) {
    if (it->path().extension() != ".json") continue;
    std::string name = it->path().stem().string();
    try {
      bool have = false;
      {
        // As the store is read elsewhere: not while another crt removes images.
        FileLock lock = store.lock_shared();
        have = store.find(name).has_value();
      }
      if (!have) (void)import_builtin(store, name, data_dir);
    } catch (const Error& e) {
      failed.emplace_back(e.what());
    }
  }
  return failed;
}

namespace {

std::string key_of(const registry::RemoteReference& r) {
  return r.digest.empty() ? r.str() : r.name() + "@" + r.digest;
}

/// The image the store has under `ref`, or under one of the names a short
/// name stands for.
std::optional<store::Image> find_local(const store::Store& store, const std::string& ref, const ResolveOptions& opts) {
  if (auto im = find_stored(store, ref)) return im;
  if (ref.rfind("sha256:", 0) == 0 || registry::parse_remote_reference(ref) || opts.default_registries.empty())
    return std::nullopt;
  for (const auto& c : registry::qualify_short_name(ref, opts.default_registries))
    if (auto im = store.find(key_of(c))) return im;
  return std::nullopt;
}

}  // namespace

std::string store_key(const std::string& ref) {
  std::optional<registry::RemoteReference> r;
  try {
    r = registry::parse_remote_reference(ref);
  } catch (const Error&) {
    // Not a registry's reference: the store says what is wrong with it.
  }
  return r ? key_of(*r) : ref;
}

std::string stored_key(const store::Store& store, const std::string& ref) {
  std::string key = store_key(ref);
  if (key == ref) return ref;
  try {
    if (store.has_image(ref)) return ref;
  } catch (const Error&) {
    // No store name as written (an upper-case host): its key is one.
  }
  return key;
}

std::optional<store::Image> find_stored(const store::Store& store, const std::string& ref) {
  return store.find(stored_key(store, ref));
}

std::optional<store::Image> find_image(store::Store& store, const std::string& ref, const stdfs::path& data_dir) {
  if (auto im = find_stored(store, ref)) return im;
  if (is_builtin_name(ref)) return import_builtin(store, store::parse_reference(ref).name, data_dir);
  return std::nullopt;
}

LockedImage find_image_locked(store::Store& store, const std::string& ref, const stdfs::path& data_dir) {
  auto found = find_image(store, ref, data_dir);
  if (!found) throw store.no_image(ref);
  FileLock lock = store.lock_shared();
  auto im = store.find(found->id);
  if (!im) throw store.no_image(ref);
  // Found again by its ID: the manifest `ref` named, if another, is chosen again.
  im->select_manifest(found->manifest);
  return {std::move(*im), std::move(lock)};
}

store::Image resolve_image(store::Store& store, const std::string& ref, const stdfs::path& data_dir,
                           const ResolveOptions& opts) {
  // crt's own images are never looked up in a registry.
  if (is_builtin_name(ref))
    if (auto im = find_image(store, ref, data_dir)) return *im;
  bool by_id = ref.rfind("sha256:", 0) == 0;
  if (opts.policy != PullPolicy::kAlways || by_id)
    if (auto im = find_local(store, ref, opts)) return *im;
  if (by_id) throw store.no_image(ref);
  if (opts.policy == PullPolicy::kNever)
    throw store.no_image(ref,
                         ", and the pull policy is 'never' (import it with 'crt image import' or pull it with "
                         "'crt image pull')");
  if (!registry::parse_remote_reference(ref) && opts.default_registries.empty()) {
    std::string why = "short names are pulled only from the default registries of " + quote(opts.config_file);
    // Passed over for the pull the policy asks for, which cannot be made.
    if (find_local(store, ref, opts))
      throw Error("image " + quote(ref) + " is in the store, but the pull policy 'always' pulls it anew, and " + why +
                  ", which names none: --pull-policy=missing (PullPolicy=missing in a pod file) takes the store's");
    throw store.no_image(ref, " (import one with 'crt image import'; to pull it, give its registry, as in " +
                                  quote("registry.example.org/" + ref) + ": " + why + ")");
  }
  return pull(store, ref, opts);
}

bool image_name_moved(const pod::ImageRef& image, const std::map<std::string, std::string>& names) {
  if (image.id.empty() || image.name.empty()) return false;
  if (auto it = names.find(image.name); it != names.end()) return it->second != image.id;
  // Its ID, or a prefix of it, for an image without names.
  std::string_view hex = std::string_view(image.id).substr(image.id.rfind(':') + 1);
  return image.name != image.id && !hex.starts_with(image.name);
}

std::string shown_image(const std::string& name, const std::string& id, bool moved) {
  return moved ? id + " (was " + name + ")" : name;
}

}  // namespace crt::runtime
