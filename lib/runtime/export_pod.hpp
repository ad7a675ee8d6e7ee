#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "common/message.hpp"

namespace crt::runtime {

/// What `crt export` is asked to write.
struct ExportRequest {
  std::string pod;                ///< UUID, unique prefix or name
  std::string app;                ///< empty: the pod's only app
  std::filesystem::path out;      ///< the oci-archive to write
  bool overwrite = false;         ///< replace `out` if it exists
  std::string ref_name;           ///< org.opencontainers.image.ref.name; may be empty
  mode_t mode = 0644;             ///< of the file `out` (the caller's umask applied)
  std::string created;            ///< the new image's creation time (RFC 3339); empty: now
};

/// Writes an exited app's rootfs with its changes as an oci-archive: the
/// app's image with one layer on top made from the app's overlay upper
/// directory (its deletions as OCI whiteouts). The pod must have exited;
/// while the archive is written, the pod cannot be removed (a shared lock on
/// its directory) nor its image's layers collected (a shared store lock).
/// Returns the app exported; a warning about what it holds goes to
/// `messages`.
std::string export_pod(const std::filesystem::path& state_dir, const ExportRequest& req, const MessageSink& messages);

}  // namespace crt::runtime
