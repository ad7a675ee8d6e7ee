#include "store/libarchive.hpp"

namespace crt::store {

const LibArchive& libarchive() {
  static const LibArchive table = [] {
    LateLibrary lib("libarchive.so.13", "read and write tar archives", "libarchive13");
    LibArchive api;
    CRT_LIBARCHIVE_FUNCTIONS(CRT_LATE_RESOLVE)
    return api;
  }();
  return table;
}

}  // namespace crt::store
