#pragma once

#include <libmount.h>

#include <memory>

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

}  // namespace crt
