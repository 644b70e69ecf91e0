// `attest gen`: wraps a testScript (C++ statements) into one ATTEST_TEST translation unit with an
// `attest::Machine&` per node. A pure function of its input, so the Nix integration and the unit
// tests get byte-identical output; lib/cli/main.cpp only adds files and flags around it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attest::cli {

/// What a generated test is made of.
struct GenSpec {
  /// The test's name; its C++ identifier form becomes the GoogleTest test name.
  std::string name;
  /// The machines (NixOS nodes); each becomes a local `attest::Machine&` of the same name.
  std::vector<std::string> nodes;
  /// The test body: C++ statements, copied verbatim.
  std::string script;
  /// The file name compiler errors and attest's locations give for script lines.
  std::string script_name = "testScript";
  /// C++ at namespace scope before the test (includes, helper functions); may be empty.
  std::string prelude;
  /// The generated file's own name, which the lines after the prelude report as theirs.
  std::string output_name = "generated.cpp";
};

/// The C++ identifier for a node or test name, as the NixOS driver's pythonize_name: each
/// character other than [A-Za-z0-9_] becomes `_`, and a leading digit gets a `_` prefix.
///
/// **Example**: `cpp_identifier("my-server") == "my_server"`, `cpp_identifier("1node") == "_1node"`
std::string cpp_identifier(std::string_view name);

/// The source of the test program for `spec`. Deterministic: nodes are sorted, as NixOS numbers
/// machines alphabetically.
/// Throws: ConfigError for an empty name, no nodes, a duplicate node, two nodes with the same
/// identifier, or a node whose identifier is a C++ keyword or `machines`.
std::string generate_test(const GenSpec& spec);

/// Reads the JSON form of a GenSpec: `{"name": "...", "nodes": ["alice"], "script": "...",
/// "script_name": "testScript", "prelude": ""}` (the last two optional). `origin` names the text
/// in messages, e.g. its file name.
/// Throws: ConfigError for invalid JSON, an unknown field, a field of the wrong type, or a missing
/// name, nodes or script.
GenSpec spec_from_json(std::string_view json_text, std::string_view origin);

}  // namespace attest::cli
