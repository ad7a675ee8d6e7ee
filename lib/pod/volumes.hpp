#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace crt::pod {

/// A pod volume (--volume), shared by the apps that mount it.
struct Volume {
  std::string name;
  std::string kind;    ///< host, empty or tmpfs
  std::string source;  ///< host: the host path
  bool read_only = false;
  bool recursive = false;  ///< host: with the mounts below the source
  std::optional<uint32_t> mode, uid, gid;  ///< empty and tmpfs
  std::optional<uint64_t> size;            ///< tmpfs
  std::string copy_from;  ///< empty: fill from this path of the app's image first (image-declared volumes)
  std::string copy_app;
};

/// Where an app sees a volume (--mount).
struct VolumeMount {
  std::string volume;
  std::string target;  ///< absolute path in the app's rootfs
};

/// Parses --volume "NAME,kind=host,source=PATH[,readOnly=true][,recursive=true]",
/// "NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=true]" or
/// "NAME,kind=tmpfs[,size=64M][,mode=…]". Throws crt::Error.
Volume parse_volume(const std::string& spec);

/// Parses --mount "volume=NAME,target=PATH". Throws crt::Error.
VolumeMount parse_mount(const std::string& spec);

/// Throws unless `name` is a valid volume name (like an app name).
void validate_volume_name(const std::string& name);

void to_json(nlohmann::json& j, const Volume& v);
void from_json(const nlohmann::json& j, Volume& v);
void to_json(nlohmann::json& j, const VolumeMount& v);
void from_json(const nlohmann::json& j, VolumeMount& v);

}  // namespace crt::pod
