// Internal: the driver's log on stderr. Machine lines are prefixed with the machine's name,
// serial lines with "name # " (dim on a terminal), errors with "!!! " as in NixOS.
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

 private:
  Log();
  // Atomic: the test threads set them while the I/O thread logs.
  std::atomic<LogLevel> level_;
  std::atomic<bool> serial_echo_{true};
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

/// "900s", "1.5s", "250ms", "15min": how durations appear in messages.
std::string format_duration(std::chrono::nanoseconds duration);

/// "\n<title>:" and `text` indented by four spaces, for the context blocks of error messages;
/// empty when `text` is empty.
std::string indent_block(std::string_view title, std::string_view text);

/// A short, printable rendering of command text or output for messages: control bytes escaped,
/// cut to `limit` characters with a note of how much was left out.
std::string excerpt(std::string_view text, std::size_t limit = 400);

}  // namespace attest::detail
