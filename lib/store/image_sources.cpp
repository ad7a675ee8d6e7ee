#include "store/image_sources.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/json_text.hpp"
#include "store/archive_util.hpp"
#include "store/digest.hpp"

namespace crt::store {

namespace stdfs = std::filesystem;
using nlohmann::json;

std::string format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kOciLayout: return "oci";
    case SourceFormat::kOciArchive: return "oci-archive";
    case SourceFormat::kDockerArchive: return "docker-archive";
    case SourceFormat::kRootfs: return "rootfs";
  }
  return "?";
}

SourceFormat parse_format(const std::string& name) {
  for (SourceFormat f : {SourceFormat::kOciLayout, SourceFormat::kOciArchive, SourceFormat::kDockerArchive,
                         SourceFormat::kRootfs})
    if (format_name(f) == name) return f;
  throw Error("unknown image format " + quote(name) + " (oci, oci-archive, docker-archive or rootfs)");
}

namespace {

/// 64 lowercase hex digits: a sha256 digest's (an uppercase one is refused
/// as a digest later, so it is not taken for one here).
bool is_hex64(std::string_view s) { return s.size() == 64 && is_lower_hex(s); }

/// Whether a member name is one only image archives have.
bool image_archive_member(const std::string& p) {
  if (p == "oci-layout" || p == "manifest.json" || p == "index.json" || p == "repositories") return true;
  if (p == "blobs" || p == "blobs/sha256" || p.rfind("blobs/sha256/", 0) == 0) return true;
  return is_hex64(p.substr(0, 64)) && (p.size() == 64 || p[64] == '/' || p.substr(64) == ".json" || p.substr(64) == ".tar");
}

/// Whether `text` is an OCI layout's oci-layout file: {"imageLayoutVersion": …}.
bool is_oci_layout_file(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  return j.is_object() && j.contains("imageLayoutVersion") && j["imageLayoutVersion"].is_string();
}

/// Whether `text` is a docker archive's manifest.json: an array of images,
/// each with its Config and Layers.
bool is_docker_manifest(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  return j.is_array() && !j.empty() && std::all_of(j.begin(), j.end(), [](const json& e) {
           return e.is_object() && e.contains("Config") && e["Config"].is_string() && e.contains("Layers") &&
                  e["Layers"].is_array();
         });
}

/// No file an archive or layout describes itself by is larger: one that
/// is, is a rootfs's file of the same name.
constexpr size_t kMaxSniffed = 4 << 20;

/// The content of the regular file `path`; "" where it is none or larger
/// than kMaxSniffed.
std::string small_file(const stdfs::path& path) {
  std::error_code ec;
  if (!stdfs::is_regular_file(path, ec)) return "";
  uintmax_t size = stdfs::file_size(path, ec);
  return ec || size > kMaxSniffed ? "" : fs::read_file(path);
}

/// The content of the archive member `e`, which `in` has just read the
/// header of; "" where it is no regular file or larger than kMaxSniffed.
std::string small_member(archive* in, archive_entry* e, const std::string& shown) {
  if (sym_archive_entry_filetype(e) != AE_IFREG || sym_archive_entry_hardlink(e) != nullptr ||
      sym_archive_entry_size(e) > static_cast<la_int64_t>(kMaxSniffed))
    return "";
  EntryDataSource data(in, shown);
  return read_all(data, kMaxSniffed);
}

}  // namespace

// A rootfs may hold a file of any name (a web app's manifest.json, a copy
// of a layout's oci-layout): an image archive or layout is recognized by
// what those files say and by the rest it needs, not by their names alone.
SourceFormat detect_format(const stdfs::path& source) {
  struct stat st {};
  if (::stat(source.c_str(), &st) < 0) throw_errno(quote(source.string()));
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    bool oci = is_oci_layout_file(small_file(source / "oci-layout")) &&
               stdfs::is_regular_file(source / "index.json", ec) && stdfs::is_directory(source / "blobs", ec);
    return oci ? SourceFormat::kOciLayout : SourceFormat::kRootfs;
  }
  if (!S_ISREG(st.st_mode)) throw Error(quote(source.string()) + " is neither a directory nor an archive");
  ArchivePtr in = open_tar_file(source);
  // A compressed image archive shows itself in its first member (docker
  // save, skopeo and crt write their own first, or layers named by digest);
  // a compressed rootfs is not decompressed to its end for this. An
  // uncompressed archive's headers are read without its files' data: an
  // archive whose layers have names of its own ("./l1/layer.tar" before
  // "./manifest.json") is found all the same.
  bool first = true, only_image_members = true, named_like_one = false;
  bool oci_layout = false, index = false, blobs = false, docker_manifest = false;
  archive_entry* e = nullptr;
  for (;;) {
    int rc = sym_archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    check_archive(in.get(), rc, "reading " + quote(source.string()));
    std::string p = clean_entry_path(sym_archive_entry_pathname(e));
    if (p.empty()) continue;
    if (first && !image_archive_member(p) && sym_archive_filter_code(in.get(), 0) != ARCHIVE_FILTER_NONE)
      return SourceFormat::kRootfs;
    first = false;
    only_image_members = only_image_members && image_archive_member(p);
    std::string shown = quote(p) + " in " + quote(source.string());
    if (p == "oci-layout" || p == "manifest.json") named_like_one = true;
    if (p == "oci-layout") oci_layout = oci_layout || is_oci_layout_file(small_member(in.get(), e, shown));
    if (p == "manifest.json") docker_manifest = docker_manifest || is_docker_manifest(small_member(in.get(), e, shown));
    index = index || (p == "index.json" && sym_archive_entry_filetype(e) == AE_IFREG);
    blobs = blobs || p.rfind("blobs/", 0) == 0;
  }
  if (oci_layout && index && blobs) return SourceFormat::kOciArchive;
  if (docker_manifest) return SourceFormat::kDockerArchive;
  if (named_like_one && only_image_members)
    throw Error(quote(source.string()) +
                " looks like an image archive, but holds neither an OCI layout (oci-layout, index.json and blobs/) "
                "nor a docker archive's manifest.json; if it is a root file system, --format=rootfs imports it as one");
  return SourceFormat::kRootfs;
}

void check_image_files(const LayoutFiles& files, SourceFormat f) {
  if (f == SourceFormat::kRootfs) return;
  bool docker = f == SourceFormat::kDockerArchive;
  const char* list = docker ? "manifest.json" : "index.json";
  auto check_held = [&](const json& name, const char* what) {
    if (!name.is_string()) throw Error(std::string("its ") + list + " names a " + what + " by no file name");
    std::string path = name.get<std::string>();
    if (!docker) path = layout_blob_path(path);
    if (!files.exists(path))
      throw Error(std::string("its ") + list + " names the " + what + " " + quote(path) + ", which it does not hold");
  };
  with_context(std::string("reading ") + files.describe(), [&] {
    json j = oci::parse_json(files.read(list), list);
    const json* images = docker ? &j : (j.is_object() && j.contains("manifests") ? &j["manifests"] : nullptr);
    if (images == nullptr || !images->is_array() || images->empty())
      throw Error(std::string("its ") + list + " lists no image");
    for (const json& entry : *images) {
      if (!entry.is_object()) throw Error(std::string("its ") + list + " lists what is no image");
      if (!docker) {
        check_held(entry.value("digest", json()), "manifest");
        continue;
      }
      check_held(entry.value("Config", json()), "configuration");
      if (!entry.contains("Layers") || !entry["Layers"].is_array())
        throw Error(std::string("its ") + list + " lists an image without its Layers");
      for (const json& layer : entry["Layers"]) check_held(layer, "layer");
    }
  });
}

namespace {

/// Reads a blob of the layout and checks its digest.
std::string read_blob(const LayoutFiles& files, const oci::Descriptor& d, const char* what) {
  return with_context(std::string("reading the ") + what + " " + d.digest, [&] {
    std::string data = files.read(layout_blob_path(d.digest));
    if (sha256_digest(data) != d.digest) throw Error("it does not match its digest (it is " + sha256_digest(data) + ")");
    if (d.size >= 0 && data.size() != static_cast<size_t>(d.size))
      throw Error("it has " + std::to_string(data.size()) + " bytes, not " + std::to_string(d.size));
    return data;
  });
}

ImageInput image_from_manifest(const LayoutFiles& files, const oci::Descriptor& d, const oci::Platform& platform) {
  std::string text = read_blob(files, d, "manifest");
  std::string media = oci::document_media_type(oci::parse_json(text, "manifest " + d.digest));
  oci::Descriptor md = d;
  if (oci::is_index(media)) {
    oci::Index ix = oci::parse_index(text);
    md = oci::select_platform(ix, platform);
    text = read_blob(files, md, "manifest");
  }
  oci::Manifest m = oci::parse_manifest(text);
  ImageInput in;
  in.manifest = text;
  in.config = read_blob(files, m.config, "configuration");
  oci::check_platform(in.config, platform);
  for (const auto& l : m.layers) {
    std::string path = layout_blob_path(l.digest);
    in.layers.push_back({l.media_type, l.digest, l.size, [&files, path] { return files.open(path); }});
  }
  return in;
}

std::string ref_name_of(const oci::Descriptor& d) {
  auto it = d.annotations.find(std::string(oci::kRefNameAnnotation));
  return it == d.annotations.end() ? "" : it->second;
}

/// containerd's annotation of an image's full name, which `docker save`
/// (Docker 25 and later) writes beside a ref name of the tag alone.
constexpr std::string_view kContainerdNameAnnotation = "io.containerd.image.name";

/// That name, when it is one the store can give (not a digest's alone).
std::optional<Reference> containerd_name_of(const oci::Descriptor& d) {
  auto it = d.annotations.find(std::string(kContainerdNameAnnotation));
  if (it == d.annotations.end() || it->second.find('@') != std::string::npos) return std::nullopt;
  try {
    return parse_reference(it->second);
  } catch (const Error&) {
    return std::nullopt;  // another tool's idea of a name: the ref name decides
  }
}

/// `ref` as `key` names it in the store.
std::string keyed(const NameKey& key, const std::string& ref) { return key ? key(ref) : ref; }

/// Names `in` `name` as `key` names it, once; the spelling as written, where
/// it differs, goes among its replaced_names (an older crt stored it so).
void add_keyed_name(ImageInput& in, const Reference& name, const NameKey& key) {
  Reference k = parse_reference(keyed(key, name.str()));
  if (k.str() != name.str()) in.replaced_names.push_back(name.str());
  if (std::none_of(in.names.begin(), in.names.end(), [&](const Reference& r) { return r.str() == k.str(); }))
    in.names.push_back(k);
}

/// Throws where two different images (by configuration) of one layout or
/// archive take one name: the store would keep the later under it, and the
/// earlier unnamed. `positions` are their places (1-based) in `list`.
void check_one_image_per_name(const std::vector<ImageInput>& images, const std::vector<size_t>& positions,
                              const std::string& list) {
  for (size_t j = 1; j < images.size(); ++j)
    for (size_t i = 0; i < j; ++i) {
      if (images[i].config == images[j].config) continue;
      for (const auto& n : images[j].names)
        if (std::any_of(images[i].names.begin(), images[i].names.end(),
                        [&](const Reference& r) { return r.str() == n.str(); }))
          throw Error("entries " + std::to_string(positions[i]) + " and " + std::to_string(positions[j]) + " of its " +
                      list + " are different images with one name, " + quote(n.str()) +
                      " (as a pull spells the names they record): a name can be one image's only");
    }
}

/// The store name of an OCI layout's image: its ref name, or containerd's
/// full name where the ref name is a tag alone.
std::optional<Reference> name_from_ref(const oci::Descriptor& d, const std::string& layout_name) {
  std::string ref = ref_name_of(d);
  bool full = ref.find('/') != std::string::npos || ref.find(':') != std::string::npos;
  if (full) return parse_reference(ref);
  if (auto name = containerd_name_of(d)) return name;
  if (ref.empty()) return std::nullopt;
  if (layout_name.empty())
    throw Error("its image is named by the tag " + quote(ref) +
                " alone: give the image's name (crt image import PATH NAME)");
  try {
    return parse_reference(layout_name + ":" + ref);
  } catch (const Error& e) {
    throw Error("its image is named by the tag " + quote(ref) + " alone, and " + quote(layout_name) +
                " is no name for it (" + e.what() + "): give the image's name (crt image import PATH NAME)");
  }
}

/// The entries of `chosen`, where several of one ref name are each for a
/// platform, with only the one of those for `platform` (in the place of the
/// first); others as they are.
std::vector<const oci::Descriptor*> one_per_platform_group(const std::vector<const oci::Descriptor*>& chosen,
                                                           const oci::Platform& platform) {
  std::map<std::string, std::vector<const oci::Descriptor*>> groups;
  for (const auto* d : chosen) groups[ref_name_of(*d)].push_back(d);
  std::vector<const oci::Descriptor*> out;
  for (const auto* d : chosen) {
    const auto& group = groups[ref_name_of(*d)];
    bool per_platform = group.size() > 1 &&
                        std::all_of(group.begin(), group.end(), [](const auto* g) { return g->platform.has_value(); });
    if (!per_platform) {
      out.push_back(d);
      continue;
    }
    if (d != group.front()) continue;
    oci::Index sub;
    for (const auto* g : group) sub.manifests.push_back(*g);
    const std::string& picked = oci::select_platform(sub, platform).digest;
    out.push_back(*std::find_if(group.begin(), group.end(), [&](const auto* g) { return g->digest == picked; }));
  }
  return out;
}

}  // namespace

std::vector<ImageInput> read_oci_layout(const LayoutFiles& files, const std::string& layout_name,
                                        const std::optional<Reference>& name, const oci::Platform& platform,
                                        const NameKey& key) {
  return with_context("reading the OCI layout " + files.describe(), [&] {
    json layout = oci::parse_json(files.read("oci-layout", 1 << 16), "oci-layout");
    if (layout.value("imageLayoutVersion", "") != "1.0.0")
      throw Error("unsupported imageLayoutVersion " + quote(layout.value("imageLayoutVersion", "")));
    oci::Index index = oci::parse_index(files.read("index.json"));
    if (index.manifests.empty()) throw Error("its index.json lists no image");
    std::vector<const oci::Descriptor*> chosen;
    for (const auto& d : index.manifests) chosen.push_back(&d);
    if (name && chosen.size() > 1) {
      std::vector<const oci::Descriptor*> matching;
      for (const auto* d : chosen) {
        std::string ref = ref_name_of(*d);
        auto full = containerd_name_of(*d);
        if (ref == name->tag || keyed(key, ref) == name->str() || (full && keyed(key, full->str()) == name->str()))
          matching.push_back(d);
      }
      if (matching.empty()) throw Error("it holds several images and none is named " + quote(name->str()) + " or " + quote(name->tag));
      chosen = matching;
    }
    chosen = one_per_platform_group(chosen, platform);
    std::vector<ImageInput> out;
    std::vector<size_t> positions;
    for (const auto* d : chosen) {
      ImageInput in = image_from_manifest(files, *d, platform);
      if (name) {
        in.names = {*name};
      } else if (auto n = name_from_ref(*d, layout_name)) {
        add_keyed_name(in, *n, key);
      }
      out.push_back(std::move(in));
      positions.push_back(static_cast<size_t>(d - index.manifests.data()) + 1);
    }
    check_one_image_per_name(out, positions, "index.json");
    return out;
  });
}

namespace {

/// One entry of a docker archive's manifest.json.
ImageInput docker_image(const LayoutFiles& files, const json& entry, const std::vector<std::string>& tags,
                        const std::optional<Reference>& name, const NameKey& key) {
  ImageInput in;
  in.config = files.read(entry.at("Config").get<std::string>());
  for (const auto& layer : entry.at("Layers")) {
    std::string path = layer.get<std::string>();
    LayerInput l;
    // A layer named after its digest (newer docker) is checked as such.
    if (path.rfind("blobs/sha256/", 0) == 0 && is_hex64(path.substr(13))) l.digest = "sha256:" + path.substr(13);
    l.open = [&files, path] { return files.open(path); };
    in.layers.push_back(std::move(l));
  }
  if (name) {
    in.names = {*name};
  } else {
    for (const auto& t : tags) add_keyed_name(in, parse_reference(t), key);
  }
  return in;
}

}  // namespace

std::vector<ImageInput> read_docker_archive(const LayoutFiles& files, const std::optional<Reference>& name,
                                            const NameKey& key) {
  return with_context("reading the docker archive " + files.describe(), [&] {
    json manifest = oci::parse_json(files.read("manifest.json"), "manifest.json");
    if (!manifest.is_array() || manifest.empty()) throw Error("its manifest.json lists no image");
    std::vector<ImageInput> out;
    std::vector<size_t> positions;
    try {
      for (size_t k = 0; k < manifest.size(); ++k) {
        const json& entry = manifest[k];
        std::vector<std::string> tags;
        if (entry.contains("RepoTags") && entry["RepoTags"].is_array())
          tags = entry["RepoTags"].get<std::vector<std::string>>();
        if (name && manifest.size() > 1 &&
            std::none_of(tags.begin(), tags.end(), [&](const std::string& t) { return keyed(key, t) == name->str(); }))
          continue;
        out.push_back(docker_image(files, entry, tags, name, key));
        positions.push_back(k + 1);
      }
    } catch (const json::exception& e) {
      throw Error(std::string("invalid manifest.json: ") + e.what());
    }
    if (out.empty()) throw Error("it holds several images and none is tagged " + quote(name->str()));
    check_one_image_per_name(out, positions, "manifest.json");
    return out;
  });
}

}  // namespace crt::store
