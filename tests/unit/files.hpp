// Reading a file whole, for the unit tests that check what the code under test wrote (console
// logs, a host bash's stderr).
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace attest::testing_support {

/// The file's bytes, or "" when it cannot be opened.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace attest::testing_support
