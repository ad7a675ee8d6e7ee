#include "store/import.hpp"

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
  return with_context("importing " + quote(req.source.string()) + " (" + format_name(f) + ")", [&] {
    std::unique_ptr<LayoutFiles> files;
    if (f == SourceFormat::kOciLayout)
      files = std::make_unique<DirectoryFiles>(req.source);
    else
      files = std::make_unique<ArchiveFiles>(req.source);
    std::vector<ImageInput> inputs = f == SourceFormat::kDockerArchive
                                         ? read_docker_archive(*files, req.name)
                                         : read_oci_layout(*files, req.source.filename().string(), req.name, req.platform);
    std::vector<Image> out;
    for (auto& in : inputs) {
      in.cancelled = req.cancelled;
      out.push_back(store.commit_image(in, progress));
    }
    return out;
  });
}

}  // namespace crt::store
