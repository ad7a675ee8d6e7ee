#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "common/fd.hpp"

namespace crt::store {

/// A stream of bytes read once from the start: a blob file, or a member of
/// an archive.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Reads up to `n` bytes; returns 0 at the end. Throws crt::Error.
  virtual size_t read(void* buf, size_t n) = 0;
  /// What the bytes are, for messages: "'/x/blobs/sha256/…'".
  [[nodiscard]] virtual std::string describe() const = 0;
};

/// A regular file.
class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::filesystem::path& path);
  size_t read(void* buf, size_t n) override;
  [[nodiscard]] std::string describe() const override;

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
};

/// A whole source read into memory, refusing more than `limit` bytes
/// (manifests and configurations are small; a huge one is an attack).
std::string read_all(ByteSource& src, size_t limit);

}  // namespace crt::store
