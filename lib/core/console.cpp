// A machine's serial console: line assembly, bounded memory, raw log file, echo.
#include "core/console.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>

#include "core/log.hpp"

namespace attest::detail {

namespace {

/// The number of the next section of log file `file` in this process (1: the first, which
/// truncates it). Process-wide, so that a later Driver writing to the same output directory
/// appends to the boots of an earlier one instead of erasing them.
unsigned next_section(const std::filesystem::path& file) {
  static std::mutex mutex;
  static std::map<std::string, unsigned> sections;
  std::error_code ec;
  auto key = std::filesystem::weakly_canonical(file, ec);
  if (ec) key = file.lexically_normal();
  const std::lock_guard lock(mutex);
  return ++sections[key.string()];
}

/// The time now in UTC, as 2026-12-07T05:40:01Z.
std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
  return text;
}

/// Whether `file` (open for reading and appending) is empty or ends with a newline; leaves its
/// position at the end, ready to write.
bool ends_a_line(std::FILE* file) {
  bool at_start = true;
  if (std::fseek(file, -1, SEEK_END) == 0) at_start = std::fgetc(file) == '\n';
  std::fseek(file, 0, SEEK_END);
  return at_start;
}

}  // namespace

Console::Console(std::string machine, std::size_t memory_limit)
    : machine_(std::move(machine)), limit_(memory_limit) {}

Console::~Console() {
  if (file_ != nullptr) std::fclose(file_);
}

void Console::begin_boot(const std::filesystem::path& file, std::string_view what) {
  if (file_ != nullptr) std::fclose(file_);
  boot_ = next_section(file);
  // A new run of the test binary starts the file afresh; its later boots keep the earlier ones.
  file_ = std::fopen(file.c_str(), boot_ == 1 ? "wb" : "a+b");
  if (file_ == nullptr) return;
  std::setvbuf(file_, nullptr, _IONBF, 0);
  // The separator starts a line of its own, even after a boot that ended mid-line.
  std::string header = boot_ == 1 || ends_a_line(file_) ? "" : "\n";
  header += fmt::format("==== attest: boot {} of machine '{}' in this run: {} at {} ====\n", boot_,
                        machine_, what, utc_now());
  std::fwrite(header.data(), 1, header.size(), file_);
}

void Console::clear() {
  text_.clear();
  partial_.clear();
  dropped_ = 0;
}

void Console::append(std::string_view bytes) {
  if (file_ != nullptr) std::fwrite(bytes.data(), 1, bytes.size(), file_);
  std::size_t start = 0;
  for (;;) {
    const auto nl = bytes.find('\n', start);
    if (nl == std::string_view::npos) break;
    if (partial_.empty()) {
      add_line(bytes.substr(start, nl - start));
    } else {
      partial_.append(bytes.substr(start, nl - start));
      add_line(partial_);
      partial_.clear();
    }
    start = nl + 1;
  }
  partial_.append(bytes.substr(start));
}

void Console::flush_partial() {
  if (partial_.empty()) return;
  std::string line = std::move(partial_);
  partial_.clear();
  add_line(line);
}

void Console::add_line(std::string_view raw) {
  std::string line;
  line.reserve(raw.size());
  for (char c : raw)
    if (c != '\r') line.push_back(c);
  text_ += line;
  text_ += '\n';
  if (text_.size() > limit_) {
    // Drop whole lines from the front, a quarter of the limit at a time.
    auto cut = text_.find('\n', text_.size() - limit_ + limit_ / 4);
    if (cut == std::string::npos) cut = text_.size() - 1;
    dropped_ += cut + 1;
    text_.erase(0, cut + 1);
  }
  Log::get().serial(machine_, line);
  if (on_line) on_line(line);
}

std::string Console::tail(std::size_t lines) const {
  std::size_t start = 0;
  std::size_t seen = 0;
  for (std::size_t i = text_.size(); lines > 0 && i-- > 0;) {
    if (text_[i] == '\n' && i + 1 != text_.size() && ++seen == lines) {
      start = i + 1;
      break;
    }
  }
  std::string out = lines == 0 ? std::string{} : text_.substr(start);
  if (!partial_.empty()) out += partial_ + "\n";
  return out;
}

}  // namespace attest::detail
