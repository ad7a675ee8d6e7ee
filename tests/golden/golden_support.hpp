#pragma once

// What the golden tests share: reading and writing expected files, and a
// unified diff for failures.

#include <filesystem>
#include <string>

namespace crt::golden {

/// CRT_GOLDEN_UPDATE=1: rewrite expected/ from what the library renders now.
bool updating();

std::string read(const std::filesystem::path& p);
void write(const std::filesystem::path& p, const std::string& content);

/// A unified diff (3 lines of context) of two texts.
std::string unified_diff(const std::string& name, const std::string& expected, const std::string& actual);

}  // namespace crt::golden
