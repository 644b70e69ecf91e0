// Internal: runs a tool in the foreground and waits for it (the image builder, a test binary
// `attest run` compiled). Not for VMMs: those are process::VmmProcess children.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attest::process {

struct ForegroundOptions {
  bool search_path = false;         ///< look argv[0] up in PATH (else it is a path)
  bool capture_stdout = false;      ///< return its stdout instead of passing it through
  std::string_view who = "attest";  ///< prefixes the message when argv[0] cannot be run
};

struct ForegroundResult {
  int status = 0;   ///< its exit code, or 128+N when signal N ended it (127: not run)
  std::string out;  ///< its stdout, when captured
};

/// Runs `argv` with this process's stdin and stderr (and stdout unless captured) and waits for
/// it. Throws std::runtime_error only when it cannot be started or waited for.
ForegroundResult run_foreground(const std::vector<std::string>& argv,
                                const ForegroundOptions& options = {});

}  // namespace attest::process
