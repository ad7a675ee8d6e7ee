#include "common/json_text.hpp"

#include <nlohmann/json.hpp>

namespace crt::json_text {

nlohmann::json parse(std::string_view text) { return nlohmann::json::parse(text); }

std::string dump(const nlohmann::json& j, int indent) { return j.dump(indent); }

bool is_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace crt::json_text
