// Writes the system call filter crt loads over every pod in place of
// nspawn's own (see lib/sandbox/pod_filter.hpp), compiled once at build time.
// Usage: gen-pod-seccomp OUT
#include <iostream>

#include "common/error.hpp"
#include "sandbox/pod_filter.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: gen-pod-seccomp OUT\n";
    return 2;
  }
  try {
    crt::sandbox::write_pod_filter(crt::sandbox::compile_pod_filter(), argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "gen-pod-seccomp: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
