#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crt::sandbox {

/// The default capability bounding set of an app (CapBnd 00000000a80425fb).
std::vector<std::string> default_capabilities();

/// Upper-case "CAP_X" for a capability name given as "cap_x", "CAP_X" or "x";
/// throws if libcap does not know it.
std::string normalize_capability(const std::string& name);

/// The mask of capabilities `names` (as normalize_capability() takes
/// them), bit N for capability N; throws for one libcap does not know.
uint64_t capability_mask(const std::vector<std::string>& names);

/// The bounding set from the defaults and --caps-retain/--caps-remove lists
/// (comma-separated).
std::vector<std::string> resolve_capabilities(const std::optional<std::string>& retain,
                                              const std::optional<std::string>& remove);

}  // namespace crt::sandbox
