// attest/json.hpp (optional): JSON from a command's output, as a ported test's `json.loads(...)`.
// The one public header with a third-party include: nlohmann_json's, which a test using it
// needs on its include path (`nlohmann3-json-dev` on Debian, `pkgs.nlohmann_json` in
// `attest.buildInputs` with Nix). The core headers stay free of it.
//
//   using namespace attest::script;
//   const auto units = json_loads(m.succeed("systemctl list-units --output=json"));
//   ASSERT_EQ(at(units, 0).at("active"), "active");
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace attest::script {

/// A JSON value: `v["key"]`, `v.at("key")` (throws for a missing key, like Python's KeyError),
/// `v == 1`, `v.get<std::string>()`, iteration; see nlohmann_json's documentation.
using Json = nlohmann::json;

/// Python's `json.loads(text)`.
/// Throws: std::invalid_argument with the parser's message and the start of the text.
inline Json json_loads(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    constexpr std::size_t shown = 200;
    throw std::invalid_argument("attest::script::json_loads: not JSON (" + std::string(e.what()) +
                                "): \"" + std::string(text.substr(0, shown)) +
                                (text.size() > shown ? "...\"" : "\""));
  }
}

}  // namespace attest::script
