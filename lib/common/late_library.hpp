#pragma once

#include <string>

namespace crt {

/// A shared library crt opens the first time a command needs it, instead of
/// at start. Every library crt links is mapped and relocated by every crt
/// command, and stays in crt run's memory while it supervises its pod:
/// libarchive and the libraries it pulls in (libxml2 and ICU among them)
/// cost crt run time at start and memory per pod, for work (tar archives)
/// that crt run of a stored image does not do.
///
/// Each user lists the functions it calls in an X-macro, and makes of it a
/// table (CRT_LATE_FIELD) filled in by resolve() (CRT_LATE_RESOLVE) the
/// first time it is needed (store/libarchive.hpp adds wrappers named
/// sym_<function> that do that).
class LateLibrary {
 public:
  /// Opens `soname`. `purpose` completes "which crt needs to …", and
  /// `package` names the Debian package that has the library. Throws
  /// crt::Error saying all three when it cannot.
  LateLibrary(const char* soname, const char* purpose, const char* package);
  /// The library stays loaded: the addresses it gave out must stay valid.
  ~LateLibrary() = default;
  LateLibrary(const LateLibrary&) = delete;
  LateLibrary& operator=(const LateLibrary&) = delete;

  /// The address of function `name`; throws crt::Error if there is none.
  void* symbol(const char* name) const;

  /// symbol(), as a pointer to function of type F.
  template <typename F>
  F resolve(const char* name) const {
    return reinterpret_cast<F>(symbol(name));
  }

 private:
  std::string soname_;
  void* handle_ = nullptr;
};

}  // namespace crt

/// A field of a library's function table: CRT_LATE_FIELD(archive_read_new)
/// declares `decltype(&::archive_read_new) archive_read_new`.
#define CRT_LATE_FIELD(name) decltype(&::name) name = nullptr;
/// Fills field `name` of table `api` from LateLibrary `lib`.
#define CRT_LATE_RESOLVE(name) api.name = lib.resolve<decltype(api.name)>(#name);
