// `attest port`: the translator of NixOS Python testScripts is a Python program installed with
// attest (CPython's own parser reads the Python exactly as the NixOS driver would; see
// docs/architecture.md); this finds it and Python, and runs it in this process's place.
#pragma once

#include <string_view>
#include <vector>

namespace attest::cli {

/// Runs the translator with `args` (the command line after `port`) in place of this process.
/// Returns only on failure. Throws: std::runtime_error naming what is missing (the translator's
/// files, or Python 3) and how to fix it.
[[noreturn]] void exec_port(const std::vector<std::string_view>& args);

}  // namespace attest::cli
