#pragma once

#include <filesystem>
#include <string>

namespace crt::test {

/// `blob` with the byte in its middle flipped: damaged the way a disk
/// damages a stored blob, of its size and with another digest.
std::string with_a_byte_flipped(std::string blob);

/// Flips the byte in the middle of the file `path` (a stored blob) as
/// with_a_byte_flipped() does.
void flip_a_byte(const std::filesystem::path& path);

}  // namespace crt::test
