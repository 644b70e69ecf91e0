// Internal: a machine's serial console. Bytes from the VMM's stdout become lines ('\r' removed)
// kept in memory up to a bound, written raw to <output>/<machine>.console.log, echoed to the log
// as "name # line", and offered to watchers (kernel panic detection, wait_for_console_text).
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace attest::detail {

class Console {
 public:
  /// Keeps at most `memory_limit` bytes of text in memory (the oldest lines go first).
  explicit Console(std::string machine, std::size_t memory_limit = 64u << 20);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  /// Starts a new log file (truncating it) and clears the in-memory text; called on every start.
  void restart(const std::filesystem::path& file);
  /// Appends raw bytes from the VMM; calls on_line for each completed line.
  void append(std::string_view bytes);
  /// Ends a trailing partial line (the VMM exited).
  void flush_partial();

  /// The text since the last restart (bounded), lines joined with '\n'.
  const std::string& text() const noexcept { return text_; }
  /// The last `lines` lines.
  std::string tail(std::size_t lines) const;
  /// Total bytes of text ever appended since restart (positions in text() are relative to
  /// dropped_ bytes dropped from the front).
  std::size_t end_position() const noexcept { return dropped_ + text_.size(); }
  std::size_t dropped() const noexcept { return dropped_; }

  std::function<void(std::string_view)> on_line;

 private:
  void add_line(std::string_view line);
  std::string machine_;
  std::size_t limit_;
  std::string text_;
  std::size_t dropped_ = 0;
  std::string partial_;
  std::FILE* file_ = nullptr;
};

}  // namespace attest::detail
