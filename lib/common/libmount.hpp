#pragma once

#include <libmount.h>

#include <memory>
#include <string>

namespace crt {

struct MntTableDeleter {
  void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct MntIterDeleter {
  void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};

/// libmount's table and iterator, released on destruction.
using MntTable = std::unique_ptr<libmnt_table, MntTableDeleter>;
using MntIter = std::unique_ptr<libmnt_iter, MntIterDeleter>;

/// The table of a mountinfo text read before, so that what else is read
/// from the same text (options as the kernel escaped them) matches it
/// mount for mount. Throws crt::Error when it does not parse.
MntTable parse_mountinfo(std::string text);

}  // namespace crt
