#include "oci_builder.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>

#include <fstream>
#include <memory>
#include <stdexcept>

namespace crt::test {

namespace stdfs = std::filesystem;
using nlohmann::json;

LayerEntry file(std::string path, std::string content, mode_t mode) {
  LayerEntry e;
  e.path = std::move(path);
  e.data = std::move(content);
  e.mode = mode;
  return e;
}

LayerEntry dir(std::string path, mode_t mode) {
  LayerEntry e;
  e.type = LayerEntry::Type::kDir;
  e.path = std::move(path);
  e.mode = mode;
  return e;
}

LayerEntry symlink(std::string path, std::string target) {
  LayerEntry e;
  e.type = LayerEntry::Type::kSymlink;
  e.path = std::move(path);
  e.data = std::move(target);
  e.mode = 0777;
  return e;
}

LayerEntry hardlink(std::string path, std::string target) {
  LayerEntry e;
  e.type = LayerEntry::Type::kHardlink;
  e.path = std::move(path);
  e.data = std::move(target);
  return e;
}

namespace {

void check(archive* a, int rc) {
  if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
    throw std::runtime_error(std::string("libarchive: ") + (archive_error_string(a) ? archive_error_string(a) : "?"));
}

la_ssize_t append(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

unsigned filetype(LayerEntry::Type t) {
  switch (t) {
    case LayerEntry::Type::kFile: case LayerEntry::Type::kHardlink: return AE_IFREG;
    case LayerEntry::Type::kDir: return AE_IFDIR;
    case LayerEntry::Type::kSymlink: return AE_IFLNK;
    case LayerEntry::Type::kChar: return AE_IFCHR;
    case LayerEntry::Type::kBlock: return AE_IFBLK;
    case LayerEntry::Type::kFifo: return AE_IFIFO;
  }
  return AE_IFREG;
}

}  // namespace

std::string make_layer(const std::vector<LayerEntry>& entries, Compression c) {
  std::string out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  check(a.get(), archive_write_set_format_pax_restricted(a.get()));
  if (c == Compression::kGzip) check(a.get(), archive_write_add_filter_gzip(a.get()));
  if (c == Compression::kZstd) check(a.get(), archive_write_add_filter_zstd(a.get()));
  check(a.get(), archive_write_set_bytes_in_last_block(a.get(), 1));
  check(a.get(), archive_write_open2(a.get(), &out, nullptr, append, nullptr, nullptr));
  for (const auto& m : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), m.path.c_str());
    archive_entry_set_mtime(e.get(), m.mtime, 0);
    archive_entry_set_filetype(e.get(), filetype(m.type));
    archive_entry_set_perm(e.get(), m.mode);
    archive_entry_set_uid(e.get(), m.uid);
    archive_entry_set_gid(e.get(), m.gid);
    if (m.type == LayerEntry::Type::kFile) archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.data.size()));
    if (m.type == LayerEntry::Type::kSymlink) archive_entry_set_symlink(e.get(), m.data.c_str());
    if (m.type == LayerEntry::Type::kHardlink) {
      archive_entry_set_hardlink(e.get(), m.data.c_str());
      archive_entry_set_size(e.get(), 0);
    }
    if (m.type == LayerEntry::Type::kChar || m.type == LayerEntry::Type::kBlock)
      archive_entry_set_rdev(e.get(), makedev(m.major, m.minor));
    for (const auto& [k, v] : m.xattrs) archive_entry_xattr_add_entry(e.get(), k.c_str(), v.data(), v.size());
    for (const auto& [text, type] :
         {std::pair{&m.acl, ARCHIVE_ENTRY_ACL_TYPE_ACCESS}, std::pair{&m.default_acl, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT}})
      if (!text->empty() && archive_entry_acl_from_text(e.get(), text->c_str(), type) != ARCHIVE_OK)
        throw std::runtime_error("libarchive: taking the ACL " + *text);
    check(a.get(), archive_write_header(a.get(), e.get()));
    if (m.type == LayerEntry::Type::kFile && !m.data.empty()) archive_write_data(a.get(), m.data.data(), m.data.size());
  }
  check(a.get(), archive_write_close(a.get()));
  return out;
}

std::string gzip(const std::string& data) {
  std::string out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  check(a.get(), archive_write_set_format_raw(a.get()));
  check(a.get(), archive_write_add_filter_gzip(a.get()));
  check(a.get(), archive_write_set_bytes_in_last_block(a.get(), 1));
  check(a.get(), archive_write_open2(a.get(), &out, nullptr, append, nullptr, nullptr));
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  check(a.get(), archive_write_header(a.get(), e.get()));
  archive_write_data(a.get(), data.data(), data.size());
  check(a.get(), archive_write_close(a.get()));
  return out;
}

std::string digest_of(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    s += hex[md[i] >> 4];
    s += hex[md[i] & 15];
  }
  return s;
}

std::string decompress(const std::string& layer) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  check(a.get(), archive_read_open_memory(a.get(), layer.data(), layer.size()));
  archive_entry* e = nullptr;
  check(a.get(), archive_read_next_header(a.get(), &e));
  std::string out;
  char buf[65536];
  la_ssize_t n = 0;
  while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

int acl_user_perm(const stdfs::path& path, const char* xattr, uint32_t uid) {
  // The kernel's form (linux/posix_acl_xattr.h): a version, then 8 bytes an
  // entry (tag, perm, id), little-endian; a named user's tag is 2.
  char buf[256];
  ssize_t n = ::getxattr(path.c_str(), xattr, buf, sizeof buf);
  if (n < 4) return -1;
  auto at = [&](ssize_t i, int bytes) {
    uint32_t v = 0;
    for (int b = 0; b < bytes; ++b) v |= static_cast<uint32_t>(static_cast<unsigned char>(buf[i + b])) << (8 * b);
    return v;
  };
  for (ssize_t i = 4; i + 8 <= n; i += 8)
    if (at(i, 2) == 0x02 && at(i + 4, 4) == uid) return static_cast<int>(at(i + 2, 2));
  return -1;
}

std::string host_arch() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

OciLayout::OciLayout(stdfs::path dir) : dir_(std::move(dir)) {
  stdfs::create_directories(dir_ / "blobs" / "sha256");
  std::ofstream(dir_ / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
}

std::string OciLayout::add_blob(const std::string& data) {
  std::string d = digest_of(data);
  std::ofstream(dir_ / "blobs" / "sha256" / d.substr(7), std::ios::binary) << data;
  return d;
}

json OciLayout::add_image(const std::vector<std::string>& layer_blobs, const json& run_config, const std::string& platform_arg) {
  std::string plat = platform_arg.empty() ? "linux/" + host_arch() : platform_arg;
  struct {
    std::string os, architecture, variant;
  } im;
  size_t a = plat.find('/'), b = plat.find('/', a + 1);
  im.os = plat.substr(0, a);
  im.architecture = plat.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  if (b != std::string::npos) im.variant = plat.substr(b + 1);
  json diff_ids = json::array();
  json layers = json::array();
  for (const auto& l : layer_blobs) {
    diff_ids.push_back(digest_of(decompress(l)));
    std::string media = "application/vnd.oci.image.layer.v1.tar";
    if (l.size() > 2 && static_cast<unsigned char>(l[0]) == 0x1f && static_cast<unsigned char>(l[1]) == 0x8b) media += "+gzip";
    if (l.size() > 4 && l.compare(0, 4, "\x28\xb5\x2f\xfd") == 0) media += "+zstd";
    layers.push_back({{"mediaType", media}, {"digest", add_blob(l)}, {"size", l.size()}});
  }
  json config = {{"created", "2024-01-01T00:00:00Z"},
                 {"architecture", im.architecture},
                 {"os", im.os},
                 {"config", run_config},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  if (!im.variant.empty()) config["variant"] = im.variant;
  std::string config_blob = config.dump();
  last_config_ = add_blob(config_blob);
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", last_config_},
                     {"size", config_blob.size()}}},
                   {"layers", layers}};
  std::string m = manifest.dump();
  json platform = {{"os", im.os}, {"architecture", im.architecture}};
  if (!im.variant.empty()) platform["variant"] = im.variant;
  return {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
          {"digest", add_blob(m)},
          {"size", m.size()},
          {"platform", platform}};
}

json OciLayout::add_index(const std::vector<json>& manifests) {
  json index = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", manifests}};
  std::string s = index.dump();
  return {{"mediaType", "application/vnd.oci.image.index.v1+json"}, {"digest", add_blob(s)}, {"size", s.size()}};
}

void OciLayout::write_index(const std::vector<std::pair<json, std::string>>& descriptors) {
  json list = json::array();
  for (auto [d, ref] : descriptors) {
    if (!ref.empty()) d["annotations"]["org.opencontainers.image.ref.name"] = ref;
    list.push_back(d);
  }
  json index = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", list}};
  std::ofstream(dir_ / "index.json") << index.dump();
}

}  // namespace crt::test
