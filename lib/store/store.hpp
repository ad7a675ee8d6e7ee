#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lock.hpp"
#include "store/image.hpp"

namespace crt::store {

/// The content-addressed image store under `<dir>/store`:
///
///   index.json            images: id, names, layers (atomically replaced)
///   blobs/sha256/<hex>    image configurations (and, later, manifests and layers)
///   trees/<hex>           one extracted, never modified tree per layer diff_id
///   tmp/                  work in progress; invisible until renamed into place
///   lock                  flock: shared by readers, exclusive by writers
class Store {
 public:
  /// Opens the store under `dir`, creating its directories if needed.
  explicit Store(std::filesystem::path dir);

  struct ImportOptions {
    RunConfig config;
    std::string created;  ///< RFC 3339; now when empty
  };

  /// Imports a rootfs directory or tarball as a one-layer image named `name`.
  /// Atomic: on any failure nothing of it is left in the store.
  Image import_rootfs(const std::filesystem::path& source, const Reference& name, const ImportOptions& opts);

  /// Finds an image by "name[:tag]", by id ("sha256:<hex>") or by a unique
  /// prefix of at least 4 hex digits of its id.
  [[nodiscard]] std::optional<Image> find(std::string_view ref) const;

  [[nodiscard]] std::vector<Image> list() const;

  /// Removes the image `ref` names (all its names when given by id) and every
  /// layer tree no other image uses. Returns what was removed.
  Image remove(std::string_view ref);

  /// The tree of a layer.
  [[nodiscard]] std::filesystem::path tree_path(std::string_view diff_id) const;

  /// An image's layer trees, lowest first.
  [[nodiscard]] std::vector<std::filesystem::path> tree_paths(const Image& im) const;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

  /// Holds the store's lock shared, so no writer removes what a reader is
  /// about to use.
  [[nodiscard]] FileLock lock_shared() const;

 private:
  [[nodiscard]] std::vector<Image> load_index() const;
  void save_index(const std::vector<Image>& images) const;
  [[nodiscard]] FileLock lock_exclusive() const;
  void load_config(Image& im) const;
  void remove_stale_tmp() const;

  std::filesystem::path root_;
};

}  // namespace crt::store
