#include "common/libmount.hpp"

#include <cstdio>

#include "common/error.hpp"

namespace crt {

MntTable parse_mountinfo(std::string text) {
  MntTable table(mnt_new_table());
  if (!table) throw Error("parsing mountinfo: out of memory");
  if (text.empty()) return table;  // fmemopen() takes no empty buffer
  FILE* f = ::fmemopen(text.data(), text.size(), "r");
  if (f == nullptr) throw_errno("reading mountinfo");
  int rc = mnt_table_parse_stream(table.get(), f, "mountinfo");
  ::fclose(f);
  if (rc != 0) throw Error("parsing mountinfo");
  return table;
}

}  // namespace crt
