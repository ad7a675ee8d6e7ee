#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crt::test {

/// One entry of a layer tarball, with every attribute a layer can carry.
struct LayerEntry {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kChar, kBlock, kFifo };
  Type type = Type::kFile;
  std::string path;
  std::string data;  ///< content, or the link target
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
  time_t mtime = 1700000000;
  unsigned major = 0, minor = 0;
  std::map<std::string, std::string> xattrs;
  std::string acl;          ///< POSIX.1e access ACL as text (SCHILY.acl.access, as tar --acls writes it)
  std::string default_acl;  ///< a directory's default ACL (SCHILY.acl.default)
};

LayerEntry file(std::string path, std::string content, mode_t mode = 0644);
LayerEntry dir(std::string path, mode_t mode = 0755);
LayerEntry symlink(std::string path, std::string target);
LayerEntry hardlink(std::string path, std::string target);

enum class Compression { kNone, kGzip, kZstd };

/// A layer tarball (POSIX pax, so xattrs travel) in memory.
std::string make_layer(const std::vector<LayerEntry>& entries, Compression c = Compression::kGzip);

/// `data` as one gzip member. Members written one after another are one
/// gzip stream, which is how a test makes a "bomb" (GiB of zeros in a few
/// MiB) without compressing it all.
std::string gzip(const std::string& data);

/// "sha256:<hex>" of data.
std::string digest_of(const std::string& data);

/// The uncompressed form of a layer (its diff_id is digest_of() of it).
std::string decompress(const std::string& layer);

/// Writes OCI image layouts, image by image, the way a CI pipeline would.
class OciLayout {
 public:
  explicit OciLayout(std::filesystem::path dir);

  /// Writes an image's blobs: `layers` as made by make_layer(), `config`
  /// its "config" object, `platform` "os/arch[/variant]" (default: the
  /// host's). Returns its manifest descriptor (with platform).
  nlohmann::json add_image(const std::vector<std::string>& layers,
                           const nlohmann::json& config = nlohmann::json::object(), const std::string& platform = "");
  /// Writes an index of manifests (multi-platform); returns its descriptor.
  nlohmann::json add_index(const std::vector<nlohmann::json>& manifests);
  /// Stores a blob; returns its digest.
  std::string add_blob(const std::string& data);
  /// Writes index.json naming `descriptors` (each tagged with `ref` when given).
  void write_index(const std::vector<std::pair<nlohmann::json, std::string>>& descriptors);

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  /// The config digest (image id) of the last image added.
  [[nodiscard]] const std::string& last_config() const { return last_config_; }

 private:
  std::filesystem::path dir_;
  std::string last_config_;
};

/// The host's OCI architecture ("amd64" …).
std::string host_arch();

/// The permissions (rwx bits) the POSIX ACL `xattr` (system.posix_acl_access
/// or _default) of `path` gives the named user `uid`; -1 when it names none.
int acl_user_perm(const std::filesystem::path& path, const char* xattr, uint32_t uid);

}  // namespace crt::test
