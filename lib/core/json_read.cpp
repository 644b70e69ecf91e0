#include "core/json_read.hpp"

#include <fmt/format.h>

namespace attest::detail {

using json = nlohmann::json;

std::optional<json> parse_json(std::string_view text, std::string& why) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double ("1e400") is out_of_range (406).
    why = e.what();
    if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    return std::nullopt;
  }
}

std::string json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return fmt::format("boolean {}", v.get<bool>());
    case json::value_t::string:
      return fmt::format("string {}", v.dump());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return fmt::format("number {}", v.dump());
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a value";
  }
}

}  // namespace attest::detail
