#pragma once

#include <cstdint>
#include <string_view>

namespace crt::pod {

/// Parses a memory quantity: bytes, or with a suffix k/K, M, G, T (powers of
/// 1000) or Ki, Mi, Gi, Ti (powers of 1024), as rkt and Kubernetes read them.
uint64_t parse_memory(std::string_view s);

/// Parses a CPU quantity to millicores: "200m", "0.5", "2".
uint64_t parse_cpu_millis(std::string_view s);

}  // namespace crt::pod
