// Internal: the driver's log on stderr. Machine lines are prefixed with the machine's name,
// serial lines with "name # " (dim on a terminal), errors with "!!! " as in NixOS; lines inside
// blocks (attest::LogBlock, subtests) are indented two spaces per level.
// Thread-safe: the test thread and the I/O thread both write to it.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

namespace attest::detail {

enum class LogLevel { debug = 1, info = 2, warning = 3, error = 4 };

/// The process-wide log. The level comes from ATTEST_LOG_LEVEL (debug, info, warning, error).
class Log {
 public:
  static Log& get();
  LogLevel level() const noexcept { return level_; }
  void set_level(LogLevel level) noexcept { level_ = level; }
  bool enabled(LogLevel level) const noexcept { return level >= level_.load(); }
  /// Whether serial lines are echoed (NixOS serial_stdout_on/off); the console log files and the
  /// in-memory console keep recording either way.
  bool serial_echo() const noexcept { return serial_echo_; }
  void set_serial_echo(bool on) noexcept { serial_echo_ = on; }

  void write(LogLevel level, std::string_view machine, std::string_view message);
  void serial(std::string_view machine, std::string_view line);
  /// A block's title (bold on a terminal); the lines after it are indented one more level.
  void open_block(std::string_view title);
  /// Ends the innermost block: one level less, then `closing` (at info, or error if `failed`).
  void close_block(std::string_view closing, bool failed);
  /// Whether standard error is a terminal that gets colours.
  bool color() const noexcept { return color_; }

 private:
  Log();
  // Atomic: the test threads set them while the I/O thread logs.
  std::atomic<LogLevel> level_;
  std::atomic<bool> serial_echo_{true};
  /// How many blocks are open (process-wide: lines from the I/O thread belong to them too).
  std::atomic<int> depth_{0};
  bool color_;
};

inline void log_debug(std::string_view machine, std::string_view message) {
  Log::get().write(LogLevel::debug, machine, message);
}
inline void log_info(std::string_view machine, std::string_view message) {
  Log::get().write(LogLevel::info, machine, message);
}
inline void log_warning(std::string_view machine, std::string_view message) {
  Log::get().write(LogLevel::warning, machine, message);
}
inline void log_error(std::string_view machine, std::string_view message) {
  Log::get().write(LogLevel::error, machine, message);
}

/// Progress of a long wait: logs "MACHINE: waiting for KIND WHAT… 12 s" when `next` has come, and
/// moves `next` 10 s on, so a long wait shows that it is still waiting, and on what. (A plain
/// function over a time point: g++ 12 warns about the coroutine frame's operator delete when a
/// wait coroutine gets another local object.)
void wait_progress(std::string_view machine, std::string_view kind, std::string_view what,
                   std::chrono::steady_clock::time_point start,
                   std::chrono::steady_clock::time_point& next);

/// "900s", "1.5s", "250ms", "15min": how durations appear in messages.
std::string format_duration(std::chrono::nanoseconds duration);

/// "\n<title>:" and `text` indented by four spaces, for the context blocks of error messages;
/// empty when `text` is empty.
std::string indent_block(std::string_view title, std::string_view text);

/// A short, printable rendering of command text or output for messages: control bytes escaped,
/// cut to `limit` characters with a note of how much was left out.
std::string excerpt(std::string_view text, std::size_t limit = 400);

}  // namespace attest::detail
