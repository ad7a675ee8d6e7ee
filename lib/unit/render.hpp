#pragma once

#include <filesystem>
#include <string>

#include "unit/unit_file.hpp"

namespace crt::unit {

/// Renders a unit file deterministically.
std::string render(const UnitFile& u);

/// Renders and writes atomically (temp file + rename; not fsync'ed).
void write(const UnitFile& u, const std::filesystem::path& path);

}  // namespace crt::unit
