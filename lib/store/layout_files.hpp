#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "store/byte_source.hpp"

namespace crt::store {

/// The files of an image layout or archive being imported, by their path
/// inside it ("index.json", "blobs/sha256/<hex>", "<hex>/layer.tar" …).
class LayoutFiles {
 public:
  virtual ~LayoutFiles() = default;
  [[nodiscard]] virtual bool exists(const std::string& path) const = 0;
  /// Opens a file; throws crt::Error when it is not there.
  [[nodiscard]] virtual std::unique_ptr<ByteSource> open(const std::string& path) const = 0;
  /// The whole of a small file (at most `limit` bytes).
  [[nodiscard]] std::string read(const std::string& path, size_t limit = 16 << 20) const;
  [[nodiscard]] virtual std::string describe() const = 0;
};

/// Files in a directory (an OCI image layout). Paths with ".." or a leading
/// "/" are refused, and symlinks are not followed out of the directory.
class DirectoryFiles : public LayoutFiles {
 public:
  explicit DirectoryFiles(std::filesystem::path root);
  [[nodiscard]] bool exists(const std::string& path) const override;
  [[nodiscard]] std::unique_ptr<ByteSource> open(const std::string& path) const override;
  [[nodiscard]] std::string describe() const override;

 private:
  std::filesystem::path root_;
  UniqueFd root_fd_;
};

/// Members of a tar archive (oci-archive, docker-archive; compressed or not).
/// Each open() reads the archive again up to that member: cheap for the
/// uncompressed archives these are, as libarchive seeks over the rest.
/// Symlinks between members (as skopeo writes docker archives) are followed
/// inside the archive.
class ArchiveFiles : public LayoutFiles {
 public:
  explicit ArchiveFiles(std::filesystem::path archive);
  [[nodiscard]] bool exists(const std::string& path) const override;
  [[nodiscard]] std::unique_ptr<ByteSource> open(const std::string& path) const override;
  [[nodiscard]] std::string describe() const override;

 private:
  /// The regular member `path` stands for, following member symlinks.
  [[nodiscard]] std::string resolve(const std::string& path) const;

  std::filesystem::path archive_;
  std::set<std::string> members_;
  std::map<std::string, std::string> links_;  ///< symlink member -> target member
};

/// The path of a blob in an OCI layout: "blobs/sha256/<hex>".
std::string layout_blob_path(const std::string& digest);

}  // namespace crt::store
