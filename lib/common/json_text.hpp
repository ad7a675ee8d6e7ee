#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

/// JSON text in and out, compiled once for the whole program: nlohmann's
/// parser and serializer are templates that every file calling
/// json::parse() or dump() would otherwise compile again (about 3 s each).
namespace crt::json_text {

/// As nlohmann::json::parse(text): throws nlohmann::json::parse_error.
nlohmann::json parse(std::string_view text);

/// As j.dump(indent): compact with -1, else indented by that many spaces;
/// throws nlohmann::json::type_error on strings that are not UTF-8.
std::string dump(const nlohmann::json& j, int indent = -1);

/// Whether `s` is valid UTF-8, as a JSON string must be to be dumped.
bool is_utf8(const std::string& s);

}  // namespace crt::json_text
