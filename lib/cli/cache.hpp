// `attest cache list|clear|gc --max-size SIZE` (docs/snapshots.md, "Warm start"): the boot
// cache seen and bounded from the command line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace attest::cli {

struct CacheOptions {
  std::string command;  ///< "list", "clear" or "gc"
  /// Default: the boot cache warm starts use (ATTEST_BOOT_CACHE, XDG_CACHE_HOME, ~/.cache).
  std::filesystem::path dir;
  std::optional<std::uint64_t> max_bytes;  ///< gc: what the cache may keep
};

/// A size as `attest cache gc --max-size` takes it: bytes, or a number with K, M, G or T
/// (powers of 1024, any case, an optional "iB" or "B" after). Throws: std::invalid_argument saying
/// why.
std::uint64_t parse_size(const std::string& text);

/// Runs the command on the boot cache; returns the exit status (0).
int run_cache(const CacheOptions& options);

}  // namespace attest::cli
