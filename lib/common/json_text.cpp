#include "common/json_text.hpp"

#include <nlohmann/json.hpp>

namespace crt::json_text {

nlohmann::json parse(std::string_view text) { return nlohmann::json::parse(text); }

std::string dump(const nlohmann::json& j, int indent) { return j.dump(indent); }

}  // namespace crt::json_text
