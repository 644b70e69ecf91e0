// The driver's log: one mutex around stderr, so lines from the test thread and the I/O thread
// never interleave mid-line.
#include "core/log.hpp"

#include "attest/log.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

namespace attest::detail {
namespace {

std::mutex& log_mutex() {
  static std::mutex m;
  return m;
}

LogLevel level_from_env() {
  const char* v = std::getenv("ATTEST_LOG_LEVEL");
  if (v == nullptr) return LogLevel::info;
  std::string_view s{v};
  if (s == "debug") return LogLevel::debug;
  if (s == "info" || s.empty()) return LogLevel::info;
  if (s == "warning" || s == "warn") return LogLevel::warning;
  if (s == "error") return LogLevel::error;
  // Said once, at the first log line, rather than silently logging at another level.
  const std::string line = fmt::format(
      "attest: ATTEST_LOG_LEVEL='{}' is not one of debug, info, warning, error: logging at info\n",
      excerpt(s, 40));
  std::fwrite(line.data(), 1, line.size(), stderr);
  return LogLevel::info;
}

}  // namespace

Log& Log::get() {
  static Log log;
  return log;
}

Log::Log() : level_(level_from_env()), color_(::isatty(STDERR_FILENO) == 1) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') color_ = false;
}

void Log::write(LogLevel level, std::string_view machine, std::string_view message) {
  if (!enabled(level)) return;
  std::string line;
  const char* start = "";
  const char* end = "";
  if (color_) {
    end = "\033[0m";
    switch (level) {
      case LogLevel::debug:
        start = "\033[2m";
        break;
      case LogLevel::info:
        start = "";
        end = "";
        break;
      case LogLevel::warning:
        start = "\033[33m";
        break;
      case LogLevel::error:
        start = "\033[31m";
        break;
    }
  }
  const char* mark = level == LogLevel::error     ? "!!! "
                     : level == LogLevel::warning ? "warning: "
                                                  : "";
  const std::string indent(2 * static_cast<std::size_t>(std::max(depth_.load(), 0)), ' ');
  if (machine.empty())
    line = fmt::format("{}{}{}{}{}\n", indent, start, mark, message, end);
  else
    line = fmt::format("{}{}{}{}: {}{}\n", indent, start, mark, machine, message, end);
  std::lock_guard lock(log_mutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void Log::serial(std::string_view machine, std::string_view text) {
  if (!serial_echo_ || !enabled(LogLevel::info)) return;
  const std::string indent(2 * static_cast<std::size_t>(std::max(depth_.load(), 0)), ' ');
  std::string line = color_ ? fmt::format("{}\033[2m{} # {}\033[0m\n", indent, machine, text)
                            : fmt::format("{}{} # {}\n", indent, machine, text);
  std::lock_guard lock(log_mutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void Log::open_block(std::string_view title) {
  if (enabled(LogLevel::info)) {
    const std::string indent(2 * static_cast<std::size_t>(std::max(depth_.load(), 0)), ' ');
    const std::string line = color_ ? fmt::format("{}\033[1m{}\033[0m\n", indent, title)
                                    : fmt::format("{}{}\n", indent, title);
    std::lock_guard lock(log_mutex());
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  ++depth_;
}

void Log::close_block(std::string_view closing, bool failed) {
  --depth_;
  write(failed ? LogLevel::error : LogLevel::info, "", closing);
}

void wait_progress(std::string_view machine, std::string_view kind, std::string_view what,
                   std::chrono::steady_clock::time_point start,
                   std::chrono::steady_clock::time_point& next) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next) return;
  next = now + std::chrono::seconds(10);
  const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
  log_info(machine, fmt::format("waiting for {}{}… {} s", kind, what, waited));
}

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(d).count();
  if (ms < 1000) {
    if (d < 1ms) return fmt::format("{:.2f}ms", duration<double, std::milli>(d).count());
    return fmt::format("{}ms", ms);
  }
  if (ms % 60000 == 0 && ms >= 120000) return fmt::format("{}min", ms / 60000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{:.3g}s", duration<double>(d).count());
}

std::string excerpt(std::string_view text, std::size_t limit) {
  std::string out;
  std::size_t shown = 0;
  for (; shown < text.size() && out.size() < limit; ++shown) {
    const auto c = static_cast<unsigned char>(text[shown]);
    if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (shown < text.size()) out += fmt::format("… ({} more bytes)", text.size() - shown);
  return out;
}

std::string indent_block(std::string_view title, std::string_view text) {
  if (text.empty()) return {};
  std::string out = fmt::format("\n{}:", title);
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    out += "\n    ";
    out.append(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace attest::detail

namespace attest {

void log(std::string_view message) { detail::log_info("", message); }

LogBlock::LogBlock(std::string_view title)
    : title_(title),
      start_(std::chrono::steady_clock::now()),
      uncaught_(std::uncaught_exceptions()) {
  detail::Log::get().open_block(title_);
}

LogBlock::~LogBlock() {
  const auto took = detail::format_duration(elapsed());
  if (std::uncaught_exceptions() > uncaught_)
    detail::Log::get().close_block(fmt::format("{} failed after {}", title_, took), true);
  else
    detail::Log::get().close_block(fmt::format("(finished: {}, in {})", title_, took), false);
}

std::chrono::steady_clock::duration LogBlock::elapsed() const noexcept {
  return std::chrono::steady_clock::now() - start_;
}

}  // namespace attest
