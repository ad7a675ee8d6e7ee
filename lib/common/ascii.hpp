#pragma once

#include <string>

namespace crt {

/// `s` with its ASCII letters in lowercase, whatever the locale: host
/// names, HTTP header names and the words of an authentication challenge
/// are case-insensitive, and image names lowercase.
inline std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace crt
