#include "store/byte_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace crt::store {

FileSource::FileSource(const std::filesystem::path& path) : path_(path), fd_(fs::open_fd(path, O_RDONLY)) {}

size_t FileSource::read(void* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd_.get(), buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) throw_errno("reading " + quote(path_.string()));
  }
}

std::string FileSource::describe() const { return quote(path_.string()); }

std::string read_all(ByteSource& src, size_t limit) {
  std::string out;
  char buf[65536];
  for (;;) {
    size_t n = src.read(buf, sizeof buf);
    if (n == 0) return out;
    if (out.size() + n > limit)
      throw Error(src.describe() + " is larger than " + std::to_string(limit) + " bytes");
    out.append(buf, n);
  }
}

}  // namespace crt::store
