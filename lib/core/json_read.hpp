// Internal: what the strict JSON readers (the test configuration, `attest gen`'s spec) say about
// a document that is not what they expect, in the same words.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace attest::detail {

/// `text` parsed, or nullopt with `why` set to the parser's reason without its
/// "[json.exception.parse_error.101] " prefix (a syntax error, or a number out of range).
std::optional<nlohmann::json> parse_json(std::string_view text, std::string& why);

/// How a value is named in a message: `null`, `boolean true`, `string "x"`, `number 3`,
/// `an array`, `an object`.
std::string json_type_name(const nlohmann::json& v);

}  // namespace attest::detail
