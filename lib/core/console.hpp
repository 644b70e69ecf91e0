// Internal: a machine's serial console. Bytes from the VMM's stdout become lines ('\r' removed)
// kept in memory up to a bound, written raw to <output>/<machine>.console.log, echoed to the log
// as "name # line", and offered to watchers (kernel panic detection, wait_for_console_text).
// The memory holds the console since the last start (get_console_log); the file holds every boot
// of this process, each after a separator line (begin_boot).
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

  /// Begins the section of a new boot in the log file `file`, headed by the line
  ///   ==== attest: boot N of machine 'M' in this run: WHAT at 2026-12-07T05:40:01Z ====
  /// (N counts the sections of `file` in this process, the time is UTC). The first section of
  /// `file` in this process truncates it; later ones append, after ending a partial last line.
  /// The in-memory text is left alone: clear() forgets it.
  void begin_boot(const std::filesystem::path& file, std::string_view what);
  /// Forgets the in-memory text and a partial line; called on every start.
  void clear();
  /// The number N of the current section of the log file (0 before the first).
  unsigned boot() const noexcept { return boot_; }
  /// Appends raw bytes from the VMM; calls on_line for each completed line.
  void append(std::string_view bytes);
  /// Ends a trailing partial line (the VMM exited).
  void flush_partial();

  /// The text since the last clear() (bounded), lines joined with '\n'.
  const std::string& text() const noexcept { return text_; }
  /// The last `lines` lines.
  std::string tail(std::size_t lines) const;
  /// Total bytes of text ever appended since clear() (positions in text() are relative to
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
  unsigned boot_ = 0;
};

}  // namespace attest::detail
