// attest: the test log (standard error). Lines from the driver, the machines and the test share
// it; a LogBlock indents what is logged while it is open and closes with its duration, as the
// NixOS driver's `with log.nested(...)` blocks and subtests do.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace attest {

/// Writes `message` to the test log, indented by the blocks that are open.
void log(std::string_view message);

/// A block of the log: logs `title` when made, indents every log line (the driver's, the
/// machines' serial lines, the test's own) until it is destroyed, then logs
/// `(finished: TITLE, in 1.2s)`, or that it failed when an exception leaves it.
///
/// **Example**:
/// ```
/// {
///   attest::LogBlock block("setting up the database");
///   server.succeed("createdb app");
/// }
/// ```
class [[nodiscard]] LogBlock {
 public:
  explicit LogBlock(std::string_view title);
  ~LogBlock();
  LogBlock(const LogBlock&) = delete;
  LogBlock& operator=(const LogBlock&) = delete;

  /// How long the block has been open.
  std::chrono::steady_clock::duration elapsed() const noexcept;

 private:
  std::string title_;
  std::chrono::steady_clock::time_point start_;
  int uncaught_;
};

}  // namespace attest
