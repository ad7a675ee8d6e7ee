#include "blob_damage.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace crt::test {

std::string with_a_byte_flipped(std::string blob) {
  if (blob.empty()) throw std::invalid_argument("an empty blob has no byte to flip");
  blob[blob.size() / 2] = static_cast<char>(blob[blob.size() / 2] ^ 1);
  return blob;
}

void flip_a_byte(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::string blob{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  in.close();
  // In place, as a disk damages it: the same file, of the same size.
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << with_a_byte_flipped(std::move(blob));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace crt::test
