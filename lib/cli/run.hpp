// `attest run CONFIG SCRIPT`: compiles a test script against the installed attest (pkg-config
// attest-main gmock) and runs it on CONFIG's machines, in one step. The build is cached and
// redone only when the script, a header it includes, the compiler or the flags change.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attest::cli {

/// One part of a suite split over several runs (CI runners): GoogleTest's sharding.
struct Shard {
  int index = 1;  ///< 1..total, as CI matrices count
  int total = 1;
};

/// Reads `I/N` (1 <= I <= N). Throws: std::invalid_argument saying what is wrong.
Shard parse_shard(std::string_view text);

struct RunOptions {
  std::filesystem::path config;
  /// A C++ file of ATTEST_TESTs, or a testScript (statements) to wrap as `attest gen` does.
  std::filesystem::path script;
  /// Passed to the test binary after `--config CONFIG` (GoogleTest and attest options).
  std::vector<std::string> test_args;
  /// The compiler (default: $CXX, else c++).
  std::string cxx;
  /// Extra compiler flags, split at spaces.
  std::string cxxflags;
  /// Default: $XDG_CACHE_HOME/attest/run, else ~/.cache/attest/run.
  std::filesystem::path cache_dir;
  bool rebuild = false;
  /// Compile only; print the binary's path.
  bool build_only = false;
  /// Run only this shard's tests (GTEST_TOTAL_SHARDS and GTEST_SHARD_INDEX for the binary).
  std::optional<Shard> shard;
};

/// Whether `source` is a whole test file (it defines ATTEST_TESTs) rather than a testScript.
bool is_test_file(std::string_view source);

/// The files a Make-style depfile (`target: dep dep \` ...) names as prerequisites.
std::vector<std::string> parse_depfile(std::string_view text);

/// Builds (or reuses) the test binary and runs it; returns its exit status.
/// Throws: std::runtime_error naming what failed (bad config, compiler, pkg-config).
int run_script(const RunOptions& options);

}  // namespace attest::cli
