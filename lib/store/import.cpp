#include "store/import.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/error.hpp"

namespace crt::store {

std::vector<Image> import_images(Store& store, const ImportRequest& req, Progress& progress) {
  SourceFormat f = req.format ? *req.format : detect_format(req.source);
  if (f == SourceFormat::kRootfs) {
    if (!req.name) throw Error("importing the rootfs " + quote(req.source.string()) + ": give the image a NAME");
    Store::ImportOptions opts = req.rootfs;
    opts.cancelled = req.cancelled;
    return {store.import_rootfs(req.source, *req.name, opts)};
  }
  // A layout's image named by a tag alone is named after the layout.
  auto layout_name = [](const std::filesystem::path& source) {
    std::filesystem::path p = source.lexically_normal();
    std::string name = (p.has_filename() ? p : p.parent_path()).filename().string();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    return name;
  };
  return with_context("importing " + quote(req.source.string()) + " (" + format_name(f) + ")", [&] {
    std::unique_ptr<LayoutFiles> files;
    if (f == SourceFormat::kOciLayout)
      files = std::make_unique<DirectoryFiles>(req.source);
    else
      files = std::make_unique<ArchiveFiles>(req.source);
    std::vector<ImageInput> inputs = f == SourceFormat::kDockerArchive
                                         ? read_docker_archive(*files, req.name)
                                         : read_oci_layout(*files, layout_name(req.source), req.name, req.platform);
    std::vector<Image> out;
    for (auto& in : inputs) {
      in.cancelled = req.cancelled;
      out.push_back(store.commit_image(in, progress));
    }
    return out;
  });
}

}  // namespace crt::store
